@patroni @freeze @failover
Feature: The same freeze drill on two stacks: does the setup still hold after the upgrade?
  The leader is frozen (docker pause: Patroni and PostgreSQL stop together) for 30 s at
  ttl 20, longer than its leader key lives. A replica takes over; then the old leader thaws.
  Patroni 3.0.2 (Debian 12, the bookworm stack) can put the thawed leader's key back in etcd:
  its HA loop and its etcd watcher thread thaw together, and when the loop runs on its stale
  view (it held the key) before the watcher delivers the new leader, it writes the key
  unconditionally. Then it leads again, the member elected meanwhile is demoted and rewound,
  and the writes that member acknowledged on its own timeline are lost. Otherwise it demotes
  and rejoins. It is a race: 3.0.2 took its lock back in some runs and not in others
  (bench/stacks.py --freeze-runs, bench/RESULTS.md). It was fixed upstream after 3.0.2: on
  Patroni 4 (Debian 13, the trixie stack, or 4.1 from PyPI) the thawed leader finds the key
  taken, always demotes itself and rejoins as a replica. The harness reports which way it
  went, when, the abandoned timeline and the writes lost.

  @slow
  Scenario: Freeze the leader 30 s at ttl 20 on Patroni 3.0.2 (bookworm): it may take its lock back
    Given the stack "bookworm"
    And a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 20, loop_wait 2 and retry_timeout 5
    And the fan-out write probe is running with a 60 seconds timeout
    When I wait 1 seconds
    And I freeze the leader for 30 seconds
    Then a new leader is elected within 40 seconds
    And the old leader either took leadership back or rejoined as a replica within 120 seconds
    And every node streams from one leader within 120 seconds
    And the writes acknowledged by the losing side of the split brain are counted as lost

  @slow
  Scenario: Freeze the leader 30 s at ttl 20 on Patroni 4.0 (trixie): it demotes itself and rejoins
    Given the stack "trixie"
    And a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 20, loop_wait 2 and retry_timeout 5
    And the fan-out write probe is running with a 60 seconds timeout
    When I wait 1 seconds
    And I freeze the leader for 30 seconds
    Then a new leader is elected within 40 seconds
    And the old leader rejoins as a replica within 120 seconds
    And the old leader did not take leadership back
    And the failover phases are recorded
