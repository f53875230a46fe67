@failover @slow
Feature: The same drills on Patroni and pg_auto_failover, side by side
  Two HA managers answer the same faults: Patroni (leader key in etcd, ttl 10) and
  pg_auto_failover (a monitor that acts after 5 s without a keeper's report). The steps are
  the same; the roles, the failover phases and the timelines come from each manager's own
  view. Split-brain checking is on by default (the fan-out write probe starts with the probes).
  After the freeze, only convergence is asserted: Patroni 3.0.2 (bookworm) may let the thawed
  leader take its key back (see stacks.feature), and then it is the other node that rejoins.

  Scenario Outline: Kill the primary under <manager>
    Given a <manager> cluster with 3 nodes
    And the write probe is running
    When I wait 1 seconds
    And I kill the primary
    Then a new leader is elected within 30 seconds
    And the old leader rejoins as a replica within 90 seconds
    And there was never more than one writable primary
    And the failover phases are recorded

    Examples:
      | manager          |
      | Patroni          |
      | pg_auto_failover |

  Scenario Outline: Freeze the primary for 20 seconds under <manager>
    Given a <manager> cluster with 3 nodes
    And the write probe is running
    When I wait 1 seconds
    And I freeze the primary for 20 seconds
    Then a new leader is elected within 40 seconds
    And every node streams from one leader within 120 seconds

    Examples:
      | manager          |
      | Patroni          |
      | pg_auto_failover |
