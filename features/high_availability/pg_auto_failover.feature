@pg_auto_failover @failover
Feature: Automatic failover with pg_auto_failover
  pg_auto_failover's monitor health-checks every node and assigns each its state; a pg_autoctl
  keeper on every node applies it. When the primary stops answering, the monitor marks it
  unhealthy, and once its keeper has been silent for the unhealthy timeout (5 s here) it
  promotes a secondary. The roles come from the monitor, the failover's phases from its
  event log; the generic fault steps and the HA Then steps are the same as on Patroni, and
  the fan-out write probe starts with the probes (split-brain checking is on by default).

  @trixie
  Scenario: Kill the primary: the monitor promotes a secondary, the old primary rejoins
    Given a pg_auto_failover cluster with 3 nodes
    And the write probe is running
    When I wait 1 seconds
    And I kill the primary
    Then a new leader is elected within 30 seconds
    And the old leader rejoins as a replica within 90 seconds
    And there was never more than one writable primary
    And the failover phases are recorded
    And every node ends on the new leader's timeline

  @slow
  Scenario: Freeze the primary past the unhealthy timeout: it is demoted when it thaws
    Given a pg_auto_failover cluster with 3 nodes
    And the write probe is running
    When I wait 1 seconds
    And I freeze the primary for 15 seconds
    Then a new leader is elected within 30 seconds
    And the old leader rejoins as a replica within 90 seconds
    And the old leader did not take leadership back

  @slow
  # Slower than a kill: the secondaries' keepers report their LSN late while their WAL
  # receivers still wait on the dropped primary (measured here: 20-30 s to a new primary).
  Scenario: Isolate the primary: it demotes itself before the monitor promotes another node
    Given a pg_auto_failover cluster with 3 nodes
    And the write probe is running
    When I wait 1 seconds
    And I isolate the primary for 40 seconds
    Then a new leader is elected within 60 seconds
    And the old leader rejoins as a replica within 90 seconds
    And there was never more than one writable primary
