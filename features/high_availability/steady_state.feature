@failover
Feature: Steady-state hypothesis around a failover
  Chaos-engineering style: declare what healthy means, check it right before the fault and
  require it back within a bound after recovery; latency while the fault is active is bounded.

  Scenario: The steady state holds before the fault and again after a harness failover
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the steady state is write success above 99 % and p95 latency under 200 ms
    And the drill aborts if availability stays below 5 % for 30 seconds
    And the write probe is running every 50 ms
    When I wait 2 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    Then the steady state holds again within 30 seconds
    And p99 write latency during the fault is under 2 seconds
    And the write RTO is under 10 seconds
