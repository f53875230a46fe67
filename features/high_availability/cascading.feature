@cascading @async_replication
Feature: Cascading replication: a replica of a replica
  Replica 2 streams from replica 1, not from the primary (its primary_conninfo names node2).
  Killing the middle replica leaves the leaf without WAL: its replay stops and its lag grows
  (the replicas section of the report gives the largest lag and replay age measured). Losing
  the primary and the middle together leaves the leaf as the only candidate: the failover
  promotes it, and the writes acknowledged after the middle died are lost (RPO).

  Background:
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And replica 2 streams from replica 1

  Scenario: Kill the middle replica: the leaf's replay stops and its lag grows
    Given the write probe is running every 50 ms
    Then replica 2 streams from replica 1 within 10 seconds
    And a write on the primary reaches replica 2 within 10 seconds
    When I wait 1 seconds
    And I kill replica 1
    And I generate 2 MB of WAL on the primary
    Then WAL replay on replica 2 stands still for 2 seconds
    And replication lag on replica 2 exceeds 1 MB within 10 seconds
    And no acknowledged write is lost

  @failover
  Scenario: Lose the primary and the middle replica: fail over to the leaf
    Given the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill replica 1
    And I wait 1 seconds
    And I kill the primary
    And the harness fails over
    Then the cluster has exactly one primary within 30 seconds
    And the write RTO is under 10 seconds
    And at most 100 acknowledged writes are lost
    And the RPO is under 10 seconds
