@backup @s3
Feature: An S3 repository for pgBackRest, and faults on its endpoint
  pgBackRest's repo1 is a bucket (repo1-type=s3): on the run's own endpoint (moto's S3 server
  behind HAProxy, TLS with a certificate made for the run and verified by pgBackRest), or on
  the real S3 or MinIO the environment file names (backup.s3). Backups, restores and PITR use
  the same steps as a folder repository. The endpoint's faults (down, frozen, slow, answering
  errors) are measured by the primary's archiver: failed attempts and segments left .ready
  while it lasts, and how fast the backlog drains once it heals. Every scenario is slow (1.5 to 3
  minutes here): a restore ends with pgbackrest verify, which reads the repository back from
  moto, and pgBackRest takes some 40 s to give up on an endpoint that is down.

  @pitr @slow
  Scenario: Backup and a point-in-time restore from an S3 repository
    The test's own client writes rows before and after the recovery target and reads the
    restored node itself: exactly the rows it wrote before the target are there.
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to an S3 repository
    And the write probe is running every 50 ms
    And a full backup was taken
    When the test client writes 20 rows of its own
    And I wait 1 seconds
    And I note the current time
    And I wait 1 seconds
    And the test client writes 20 rows of its own
    And I restore to the noted time to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the test client finds on the restored node exactly its rows written before the target
    And the restore lost at least 5 acknowledged writes
    And the restore RTO is under 5 minutes
    And the backup success rate is 100 %

  @slow
  Scenario: The S3 endpoint goes down: archive-push fails, WAL piles up, and drains once it is back
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to an S3 repository
    And the write probe is running every 100 ms
    And a full backup was taken
    When the S3 endpoint goes down
    And I generate 48 MB of WAL on the primary
    Then the WAL archive backlog grows within 60 seconds
    And archive attempts failed during the fault
    When the S3 endpoint recovers
    Then the WAL archive backlog drains within 90 seconds
    When I restore the latest backup to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore lost at most 0 acknowledged writes

  @slow
  Scenario: The S3 endpoint answers 503s, then slowly: the failed backup is counted, the slow one succeeds
    HAProxy in front of moto answers 503 SlowDown to every request (its runtime API, no
    reload); pgBackRest retries and gives up. Then every packet the endpoint sends waits
    100 ms: the backup takes longer and succeeds.
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to an S3 repository
    And the write probe is running every 100 ms
    And a full backup was taken
    When the S3 endpoint answers 503 to 100 % of requests
    And I try to take an incremental backup
    Then the last backup failed
    When the S3 endpoint recovers
    And the S3 endpoint answers 100 ms late
    And I take an incremental backup
    And the S3 endpoint recovers
    Then the backup success rate is under 100 %
    And the backup success rate is at least 60 %
    And backup verification succeeds
