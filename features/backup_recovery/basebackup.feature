@backup @pitr
Feature: pg_basebackup and a plain WAL archive, the simple alternative to pgBackRest
  Base backups in plain format with their manifest (pg_verifybackup checks them), WAL archived
  by `cp` into the same repository folder, restores by copying a base backup into a fresh node
  and recovering with `restore_command = cp` to the target.
  The service's cost is judged as downtime with room for a busy shared disk, not as the
  availability of a short window (docs/targets-and-alerts.md, "What a backup costs").

  Scenario: A base backup restores a point in time and the latest state
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And WAL archiving to a plain archive with pg_basebackup
    And the write probe is running every 50 ms
    And a full backup was taken
    When I wait 1 seconds
    And I note the current time
    And I wait 1 seconds
    And I restore to the noted time to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the restore lost at least 5 acknowledged writes
    When I restore the latest backup to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore lost at most 0 acknowledged writes
    And the restore RTO is under 5 minutes
    And backup verification succeeds
    And the backup success rate is 100 %
    And the downtime is under 15 seconds
