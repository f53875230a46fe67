@failover
Feature: Freezes and repeated faults
  A frozen node is not a dead one: it holds its connections and its role, and comes back
  as if nothing happened. A short freeze of the primary without failover must cost about
  its length in write availability and lose nothing. Repeated faults (a kill every few
  seconds, or a seeded random schedule) must each be recovered before the next one.

  @async_replication
  Scenario: Pause the primary for 5 seconds without failover
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I pause the primary for 5 seconds
    And I wait 7 seconds
    Then the cluster has exactly one primary within 10 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the write RTO is between 4.5 and 8 seconds
    And no acknowledged write is lost

  @async_replication
  Scenario: Freeze PostgreSQL on the primary with SIGSTOP, then thaw it
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I freeze PostgreSQL on the primary
    And I wait 3 seconds
    And I thaw the primary
    And I wait 2 seconds
    Then the cluster has exactly one primary within 10 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the write RTO is between 2.5 and 6 seconds
    And no acknowledged write is lost

  @sync_replication
  Scenario: A frozen sync standby does not stop writes when another can confirm them
    Given a PostgreSQL cluster with 1 primary and 2 sync replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I pause replica 1 for 5 seconds
    And I wait 7 seconds
    Then all replicas are streaming from the primary within 30 seconds
    And the write RTO is under 1.5 seconds
    And no acknowledged write is lost
    And the availability is at least 90 %

  @sync_replication
  Scenario: Fail over from a frozen primary; it is thawed as a zombie and rejoins
    Given a PostgreSQL cluster with 1 primary and 2 sync replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I freeze the primary
    And I wait 2 seconds
    And the harness fails over to the most advanced replica
    And I wait 1 seconds
    And I heal all faults
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And no acknowledged write is lost
    And the write RTO is under 6 seconds

  @sync_replication
  Scenario: Kill the primary 3 times, every 10 seconds, on a synchronous cluster
    Given a PostgreSQL cluster with 1 primary and 2 sync replicas
    And the write probe is running every 50 ms
    When I run 3 cycles of "kill the primary" every 10 seconds
    And I heal all faults
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And every cycle recovered within 5 seconds
    And the MTTR over the cycles is under 3 seconds
    And no acknowledged write is lost
    And the availability is at least 80 %

  @async_replication
  Scenario: A seeded random fault schedule, healed and converged at the end
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 100 ms
    When I run a random fault schedule with seed 42 for 30 seconds
    And I heal all faults
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And every cycle recovered within 10 seconds
    And the MTTR over the cycles is under 5 seconds
