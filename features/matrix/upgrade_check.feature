@patroni @freeze
Feature: Does our setup hold, and does it still hold after the upgrade?
  No stack is named here: run it as a version matrix, once per stack, and read one table
  with a column per stack:

    harness run features/matrix/upgrade_check.feature --stack bookworm --stack trixie

  The expectation is the one a team holds before and after an upgrade: a leader frozen past
  its ttl is replaced, and when it thaws it rejoins as a replica of the new leader. Patroni
  3.0.2 (bookworm) fails it (its thawed leader takes the lock back: the failing step says
  which node, when, the abandoned timeline and the writes lost); Patroni 4.0 (trixie) holds.
  CI does not run this folder (one column fails by design); the pinned pair in
  features/high_availability/stacks.feature asserts each stack's own behaviour.

  Scenario: A leader frozen 30 s at ttl 20 is replaced and rejoins as a replica
    Given a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 20, loop_wait 2 and retry_timeout 5
    And the fan-out write probe is running with a 60 seconds timeout
    When I wait 1 seconds
    And I freeze the leader for 30 seconds
    Then a new leader is elected within 40 seconds
    And the old leader rejoins as a replica within 120 seconds
    And the availability is at least 10 %
