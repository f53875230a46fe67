@failover
Feature: Primary failover on streaming replication
  When the primary crashes, the harness promotes the most advanced replica, points the
  others at it and brings the old primary back with pg_rewind. Writes must come back
  quickly, and on a synchronous cluster no acknowledged write may be lost.

  @async_replication
  Scenario: Kill the primary of an asynchronous cluster and fail over
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And I wait 2 seconds
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the write RTO is under 10 seconds
    And the read RTO is under 10 seconds
    And at most 100 acknowledged writes are lost
    And the RPO is under 15 minutes

  @sync_replication
  Scenario: Kill the primary of a synchronous cluster: no acknowledged write is lost
    Given a PostgreSQL cluster with 1 primary and 2 sync replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And I wait 2 seconds
    And I restart the old primary
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And no acknowledged write is lost
    And the write RTO is under 10 seconds

  @async_replication
  Scenario: Stop the primary cleanly and start it again without failover
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I stop the primary
    And I wait 1 seconds
    And I restart the old primary
    And I wait 1 seconds
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And no acknowledged write is lost
    And the write RTO is under 10 seconds
