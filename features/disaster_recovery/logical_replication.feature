@logical
Feature: Logical replication between two clusters
  A second cluster (its own primary, node sub1 on the run's network) subscribes to a
  publication on the first cluster's primary: the probe's table, the workload's tables and
  the conflict drill's table (docs/logical-replication.md). The lag is read on the publisher:
  pg_current_wal_lsn() minus the subscription slot's confirmed_flush_lsn.

  Scenario: A logical replica follows the primary within 1 MB
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And a logical replica cluster subscribed to the primary
    And the write probe is running every 50 ms
    When I wait 1 seconds
    Then the logical replica is behind by at most 1 MB within 30 seconds

  Scenario: The publisher fails over: its slot does not follow, and the subscriber stops receiving
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And a logical replica cluster subscribed to the primary
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And the logical subscription follows the new primary
    Then the logical replica misses the rows written after the failover
    When the logical subscription is re-created on the new primary
    Then the logical replica receives the rows written after the failover within 30 seconds

  @trixie @pg17
  Scenario: A failover slot follows the promoted standby (PostgreSQL 17)
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And a logical replica cluster subscribed to the primary with failover slots
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And the logical subscription follows the new primary
    Then the logical replica receives the rows written after the failover within 30 seconds

  @trixie @pg16 @network
  Scenario: The two clusters write the same keys while cut apart; every conflict is reported
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the two clusters replicate to each other
    And the write probe is running every 50 ms
    When the two clusters are cut apart
    And both clusters write the same 3 keys
    And the two clusters are joined again
    Then every conflict between the clusters is reported
    And the logical replica is behind by at most 1 MB within 30 seconds
