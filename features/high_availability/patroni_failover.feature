@patroni @failover
Feature: Automatic failover with Patroni and etcd
  Patroni manages every PostgreSQL node and keeps its leader key in etcd. When the leader
  dies, the key expires after ttl seconds and a replica takes over by itself: the write
  outage is about the ttl, and at no instant may two nodes acknowledge writes.

  Scenario: Kill the Patroni leader: a new leader within the ttl, no split brain
    Given a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 10, loop_wait 1 and retry_timeout 3
    And the fan-out write probe is running
    When I wait 1 seconds
    And I kill the leader
    Then a new leader is elected within 30 seconds
    And the write RTO is at least half the ttl and under the ttl plus 10 seconds
    And there was never more than one writable primary

  Scenario: Cut the leader off from etcd: it demotes itself and a replica takes over
    Given a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 10, loop_wait 1 and retry_timeout 3
    And the fan-out write probe is running
    When I wait 1 seconds
    And I cut the leader off from the DCS
    Then a new leader is elected within 30 seconds
    And there was never more than one writable primary
