Feature: PostgreSQL-specific failures
  Failures that only a database has: an archiver that cannot archive, a replication slot
  nobody reads, a damaged data page, a table dropped by mistake, a standby that stopped
  replaying. Each scenario measures the effect on the server (WAL kept, lag, the error a
  reader gets) and that the cluster is whole again once the fault is healed.

  @async_replication
  Scenario: Broken WAL archiving piles up WAL until it is repaired
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And WAL archiving is enabled
    And the write probe is running every 100 ms
    When I break WAL archiving on the primary
    And I generate 96 MB of WAL on the primary
    Then WAL archiving on the primary fails within 10 seconds
    And WAL retained on the primary exceeds 64 MB within 30 seconds
    When I heal all faults
    Then WAL retained on the primary is below 16 MB within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the write RTO is under 1 seconds
    And no acknowledged write is lost
    And the availability is at least 70 %

  @async_replication
  Scenario: An abandoned replication slot retains WAL until it is dropped
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 100 ms
    When a replication slot on the primary is abandoned
    And I generate 96 MB of WAL on the primary
    Then WAL retained on the primary exceeds 64 MB within 30 seconds
    When I heal all faults
    Then WAL retained on the primary is below 16 MB within 30 seconds
    And the write RTO is under 1 seconds
    And no acknowledged write is lost
    And the availability is at least 70 %

  @async_replication
  Scenario: Paused WAL replay on a replica makes its lag grow, and it catches up after
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 100 ms
    When I pause WAL replay on replica 1
    And I generate 8 MB of WAL on the primary
    Then replication lag on replica 1 exceeds 1 MB within 20 seconds
    And replication lag on replica 2 is below 1 MB within 20 seconds
    When I heal all faults
    Then replication lag on replica 1 is below 1 MB within 20 seconds
    And all replicas are streaming from the primary within 30 seconds

  @async_replication
  Scenario: A corrupted data page is detected on read by its checksum
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And a table "ledger" with 20000 rows
    And data checksums are enabled on the primary
    And the write probe is running every 100 ms
    When I corrupt a data page of table "ledger" on the primary
    Then reading table "ledger" on the primary fails with a checksum error
    And reading table "ledger" on replica 1 succeeds
    When I heal all faults
    Then reading table "ledger" on the primary succeeds
    And all replicas are streaming from the primary within 30 seconds
    And no acknowledged write is lost

  @async_replication
  Scenario: A corrupted page of the table the writes go to stops them until it is restored
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 100 ms
    When I wait 1 seconds
    And I corrupt a data page of table "probe" on the primary
    Then reading table "probe" on the primary fails with a checksum error
    When I wait 2 seconds
    And I heal all faults
    And I wait 1 seconds
    Then reading table "probe" on the primary succeeds
    And the downtime is under 15 seconds
    And no acknowledged write is lost

  @async_replication
  Scenario: A table dropped by mistake is gone everywhere, and the journal says where to recover to
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And a table "orders" with 1000 rows
    And the write probe is running every 100 ms
    When someone drops table "orders" on the primary
    Then table "orders" is gone from the primary within 1 seconds
    And table "orders" is gone from replica 1 within 10 seconds
    And table "orders" is gone from replica 2 within 10 seconds
    And the journal holds a recovery target before the drop of table "orders"
    And the write RTO is under 1 seconds
    And no acknowledged write is lost
    And the availability is at least 50 %
