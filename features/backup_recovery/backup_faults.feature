@backup
Feature: Faults on the backup side: a corrupted backup, a broken WAL archive, a full repository
  A backup is only as good as its last verification. Each fault is injected into the
  repository itself (on the host), healed at the end, and measured: what verify says, what a
  restore can still bring back and what it loses, the alert and the WAL that piles up, the
  backup success rate.

  @slow
  Scenario: A corrupted latest backup fails verification; the restore falls back and loses more
    The fallback restore stops at the end of the newest set that verifies (--type=immediate):
    the operator trusts only what verified. Every write acknowledged after that set ended, up
    to the end of the corrupted one, is lost: the RPO grows by the gap between the backups.
    The same older set with the archived WAL replayed over it loses nothing: pgBackRest's
    archive does not depend on the corrupted set, so the growth is the price of not trusting it.
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken
    When I wait 3 seconds
    And I take an incremental backup
    And I corrupt the latest backup
    Then backup verification fails
    When I try to restore the latest backup to a new node
    Then the restore failed
    When I restore the newest backup that verifies to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore lost every write acknowledged since the backup it fell back to
    And the restore lost at least 20 acknowledged writes
    And the restore RTO is under 5 minutes
    When I restore the newest backup that verifies with the archived WAL to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore lost at most 0 acknowledged writes
    And the availability is at least 70 %

  @slow @alone
  Scenario: WAL archiving to the repository fails: alerted, WAL piles up, caught up once repaired
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 100 ms
    And a full backup was taken
    When I break WAL archiving to the repository
    And I generate 96 MB of WAL on the primary
    Then a warning alert "WAL archiving failing" fires within 30 seconds
    And WAL retained on the primary exceeds 64 MB within 30 seconds
    When I repair the backup repository
    Then WAL retained on the primary is below 16 MB within 60 seconds
    And the alert "WAL archiving failing" resolves within 30 seconds
    When I restore the latest backup to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore lost at most 0 acknowledged writes
    And backup verification succeeds
    And the availability is at least 80 %

  @slow
  Scenario: A full repository fails the backup; the success rate drops until it is freed
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to a pgBackRest repository of 96 MB
    And the write probe is running every 100 ms
    And a full backup was taken
    When the backup repository fills up
    And I try to take a full backup within 10 seconds
    Then the last backup failed
    And the backup success rate is under 100 %
    When I repair the backup repository
    And I take a full backup
    Then the backup success rate is at least 60 %
    And backup verification succeeds
