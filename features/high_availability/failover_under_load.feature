@failover
Feature: Failover under a realistic background load
  A locust process (its own process, pgbench-like tables) keeps 10 users busy while the
  primary dies; the report shows the load's latency and errors before, during and after.

  @async_replication
  Scenario: Kill the primary under a mixed load
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    And a "mixed" load of 10 users ramped up over 3 seconds
    When I wait 2 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And I wait 4 seconds
    Then the write RTO is under 10 seconds
    And the load's error rate after recovery is under 10 %
    And p99 load latency after recovery is under 1 seconds
