@failover @client_path
Feature: The client path: the outage as an application sees it
  The probes usually ask the harness where the primary is before every attempt: that is
  the ideal client, which knows what the harness knows. An application reaches the database
  through a service address instead: HAProxy checking each node's role, PgBouncer in front of
  it or of the primary itself, or a libpq connection string that lists every host. Here the write and read probes go
  through the path and the direct probes run beside them, so each drill reports the real
  path's outage next to the ideal's (measurements.paths in summary.json).

  @async_replication
  Scenario Outline: Kill the primary and fail over: the outage through <path> beside the ideal
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through the client path "<path>"
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And I wait 3 seconds
    Then the cluster has exactly one primary within 30 seconds
    And the write RTO through the client path is under 30 seconds
    And the client path added at most 10 seconds to the write RTO
    And the writes through the client path after the failover went to the new primary

    Examples:
      | path              |
      | direct            |
      | libpq             |
      | haproxy           |
      | pgbouncer+haproxy |
      | pgbouncer         |

  # HAProxy keeps a dead server in the read-write pool until `fall` checks `inter` apart
  # failed: with 2 s and 3 checks that is seconds after the harness has already promoted.
  @async_replication @slow
  Scenario: Slow HAProxy checks: the path adds the checks' time to the outage
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through HAProxy
    And HAProxy checks every 2 seconds and marks a server down after 3 failed checks
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And I wait 3 seconds
    Then the write RTO through the client path is under 30 seconds
    And the client path added at least 1 seconds to the write RTO

  @patroni @slow
  Scenario: Kill the Patroni leader: HAProxy follows Patroni's REST API
    Given a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 10, loop_wait 1 and retry_timeout 3
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the leader
    Then a new leader is elected within 30 seconds
    And the write RTO through the client path is under 30 seconds
    And the client path added at most 10 seconds to the write RTO

  Scenario: Kill HAProxy: no write gets through until it runs again, the ideal saw nothing
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through HAProxy
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill HAProxy
    And I wait 2 seconds
    And I start HAProxy again
    And I wait 2 seconds
    Then the write RTO through the client path is under 30 seconds
    And the write RTO through the client path is at least 2 seconds
    And the write downtime through the "direct" path is under 2 seconds

  Scenario: Restart PgBouncer: its clients reconnect
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through PgBouncer and HAProxy
    And PgBouncer allows 20 server connections
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I restart PgBouncer
    And I wait 2 seconds
    Then the write RTO through the client path is under 30 seconds
    And the write downtime through the "direct" path is under 2 seconds

  @alerting
  Scenario: Sessions idle in a transaction take PgBouncer's pool: the pool-exhausted warning fires
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through PgBouncer and HAProxy
    And PgBouncer allows 5 server connections
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And all server connections of PgBouncer are taken
    Then a warning alert "connection pool exhausted" fires within 10 seconds
    When I wait 2 seconds
    And the server connections of PgBouncer are given back
    And I wait 2 seconds
    Then the write RTO through the client path is at least 2 seconds
    And the write RTO through the client path is under 30 seconds
    And the write downtime through the "direct" path is under 2 seconds

  # A split brain: the old primary is cut off from its replicas but not from its clients, the
  # harness promotes a replica, and the old one comes back from the cut still a primary (not
  # rewound, not fenced). HAProxy's check asks each server only "are you a primary?": both
  # pass, and `balance first` keeps sending to the old one, listed first. Those writes are
  # acknowledged, and the new primary never sees them: by the number definitions they are
  # lost writes, not service, so through HAProxy the service never comes back in this drill.
  @async_replication @network
  Scenario: Split brain behind HAProxy: the path sends writes to the deposed primary
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through HAProxy
    And the service is not expected back in this drill
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I cut the primary off from its replicas
    And the harness fails over to the most advanced replica
    And I wait 2 seconds
    And I heal the network
    And I wait 1 seconds
    Then the client path sent writes to the deposed primary
    And the writes the client path sent to the deposed primary are on it and not on the new primary

  # The same split brain, but PgBouncer in front of the primary is repointed by the failover
  # (its database entry rewritten, RELOAD): the path follows the harness, not the old primary.
  @async_replication @network @slow
  Scenario: Split brain behind PgBouncer repointed by the failover: no write goes to the deposed primary
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And clients connect through PgBouncer in front of the primary
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I cut the primary off from its replicas
    And the harness fails over to the most advanced replica
    And I wait 2 seconds
    And I heal the network
    And I wait 1 seconds
    Then the client path sent no write to the deposed primary
    And the write RTO through the client path is under 30 seconds

  # Patroni fails over by itself: PgBouncer in front of the primary is repointed by a watcher
  # (as an on_role_change callback would) once the new leader accepts writes.
  @patroni @slow
  Scenario: Kill the Patroni leader: PgBouncer in front of the primary follows the new leader
    Given a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 10, loop_wait 1 and retry_timeout 3
    And clients connect through PgBouncer in front of the primary
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the leader
    Then a new leader is elected within 30 seconds
    And the write RTO through the client path is under 30 seconds
    And the client path added at most 10 seconds to the write RTO
    And the writes through the client path after the fault went to the primary

  # The contrast on Patroni: the leader cut off from etcd cannot renew its key and demotes
  # itself, and HAProxy's /primary check answers 503 on a node that does not hold the key. So
  # once another node leads, the path sends it nothing more.
  @patroni @network @slow
  Scenario: Cut the Patroni leader off from the DCS: HAProxy sends no write to the deposed leader
    Given a Patroni cluster with 3 nodes and a 1-member etcd
    And Patroni is configured with ttl 10, loop_wait 1 and retry_timeout 3
    And clients connect through HAProxy
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I cut the leader off from the DCS
    Then a new leader is elected within 30 seconds
    When I wait 3 seconds
    Then the client path sent no write to the deposed primary

  # pg_auto_failover's monitor promotes a secondary; HAProxy tells the new primary by the
  # in_hot_standby each node reports at login, libpq by target_session_attrs=read-write, and
  # PgBouncer in front of the primary is repointed once the monitor's new primary takes writes.
  @pg_auto_failover @slow
  Scenario Outline: Kill the pg_auto_failover primary: clients through <path> follow the monitor's promotion
    Given a pg_auto_failover cluster with 3 nodes
    And clients connect through the client path "<path>"
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    Then a new leader is elected within 30 seconds
    And the write RTO through the client path is under 30 seconds
    And the client path added at most 10 seconds to the write RTO
    And the writes through the client path after the fault went to the primary

    Examples:
      | path      |
      | libpq     |
      | haproxy   |
      | pgbouncer |
