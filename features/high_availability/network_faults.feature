@network
Feature: Network faults: partitions and degraded links
  Partitions drop packets inside the nodes' network namespaces (a private nftables table
  per fault, deleted on heal); degraded links slow, thin or lose a node's outgoing packets.
  Every scenario asserts what was measured: who could reach whom, where writes arrived,
  the round-trip time, loss rate and throughput, RTO and availability.

  @async_replication @failover
  Scenario: Isolate the primary from the network and fail over
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I isolate the primary from the network
    Then the clients cannot reach the primary
    And replica 1 cannot reach the primary
    When the harness fails over to the most advanced replica
    And I heal the network
    And I restart the old primary
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the write RTO is under 10 seconds
    And at most 20 acknowledged writes are lost

  @async_replication
  Scenario: Cut the primary off from its replicas: writes go on, replicas fall behind
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I cut the primary off from its replicas
    Then a write on the primary does not reach replica 1 within 2 seconds
    And the clients can reach the primary
    And replica 1 can reach replica 2
    When I heal the network
    Then a write on the primary reaches replica 1 within 20 seconds
    And all replicas are streaming from the primary within 30 seconds
    And no acknowledged write is lost
    And the availability is at least 90 %

  @async_replication
  Scenario: Cut the primary off from the clients but not from its replicas
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    When I cut the primary off from the clients
    Then the clients cannot reach the primary
    And replica 1 can reach the primary
    And replica 2 can reach the primary
    When I heal the network
    Then the clients can reach the primary
    And a write on the primary reaches replica 1 within 5 seconds

  @async_replication
  Scenario: Cut replica 1 off from the primary in one direction
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    When I cut replica 1 off from the primary in one direction
    Then a write on the primary does not reach replica 1 within 2 seconds
    And a write on the primary reaches replica 2 within 5 seconds
    When I heal the network
    Then all replicas are streaming from the primary within 30 seconds

  @async_replication
  Scenario: Partition the cluster into halves: the primary is alone in the minority
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    When I partition the cluster into halves
    Then replica 1 cannot reach the primary
    And replica 1 can reach replica 2
    And the clients can reach the primary
    When I heal the network
    Then all replicas are streaming from the primary within 30 seconds

  @async_replication
  Scenario: Latency with jitter on a replica is injected and measured
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    When I add 200 ms of latency with 20 ms jitter to replica 1
    Then the measured latency to replica 1 is between 180 and 260 ms
    And the measured latency to replica 2 is between 0 and 50 ms
    And a write on the primary reaches replica 1 within 5 seconds
    When I heal the network
    Then the measured latency to replica 1 is between 0 and 50 ms

  @async_replication
  Scenario: Packet loss on the primary is measured and writes still get through
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 100 ms
    When I drop 30 % of packets on the primary
    Then the measured packet loss on the primary is between 20 and 40 %
    When I heal the network
    Then the measured packet loss on the primary is between 0 and 3 %

  @async_replication
  Scenario: A replica limited to 1 mbit/s sends at about that rate
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    When I limit replica 1 to 1 mbit/s
    Then the measured bandwidth of replica 1 is between 0.5 and 1.5 mbit/s
    When I heal the network
    Then the measured bandwidth of replica 1 is between 20 and 1000000 mbit/s
