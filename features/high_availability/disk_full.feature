Feature: Disk full on the primary
  Every node keeps PGDATA and pg_wal on their own small filesystems (loop-mounted ext4 images,
  sized by the environment's `volumes:` section). A full WAL disk makes PostgreSQL PANIC: the
  server goes down and cannot start again until space is freed, so the harness fails over.
  A full data disk with the WAL elsewhere only makes the writes that need new space fail: the
  server stays up, and writes come back the moment space is freed. Freeing a disk deletes the
  ballast and nothing else; a server that PANICked is started by a later step.

  @failover @async_replication
  Scenario: The WAL disk of the primary fills up: it PANICs, the harness fails over and it rejoins
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I fill the WAL disk of the primary
    Then the primary is down within 30 seconds
    And the PostgreSQL log of the primary contains "No space left on device"
    And the primary does not start
    When the harness fails over to the most advanced replica
    And I free the disk of the old primary
    And I restart the old primary
    Then the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the WAL disk of the old primary is at most 50 % full
    And the write RTO is under 10 seconds
    And at most 5 acknowledged writes are lost

  @async_replication
  Scenario: The WAL disk of the primary fills up and is freed: a restart brings writes back without a failover
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 50 ms
    When I fill the WAL disk of the primary
    Then the primary is down within 30 seconds
    And the primary does not start
    When I free the WAL disk of the primary
    And I restart the primary
    Then the primary is up
    And writes succeed on the primary
    And all replicas are streaming from the primary within 30 seconds
    And no acknowledged write is lost
    And the write RTO is under 20 seconds

  @async_replication
  Scenario: The data disk of the primary fills up: writes fail, the server stays up, freeing the disk brings writes back
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 20 ms
    When I fill the data disk of the primary
    Then the data disk of the primary is at least 99.9 % full
    And writes fail on the primary while it stays up
    When I wait 6 seconds
    Then the primary stays up for 2 seconds
    And the PostgreSQL log of the primary contains "could not extend file"
    When I free the disk of the primary
    Then writes succeed on the primary within 5 seconds
    And no acknowledged write is lost
    And the write RTO is under 15 seconds
    And the availability fell below 90 %

  @async_replication
  Scenario: The data disk of the primary at 95 %: the service keeps running
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 50 ms
    When I fill the data disk of the primary to 95 %
    Then the data disk of the primary is at least 95 % full
    And the data disk of the primary is at most 96 % full
    And writes succeed on the primary
    And a critical alert "storage at 95 %" fires within 10 seconds
    When I wait 2 seconds
    And I free the disk of the primary
    Then the alert "storage at 95 %" resolves within 10 seconds
    Then the data disk of the primary is at most 30 % full
    And no acknowledged write is lost
    And the availability is at least 95 %
