@backup
Feature: Backups and restores with pgBackRest
  The repository is a directory of its own, mounted in every node, so it outlives the primary.
  Every backup is timed and sized in the journal; every restore goes into a fresh node, is
  timed phase by phase (fetch, replay and promotion, verification) and verified against the
  probe's acknowledged writes, pg_amcheck and pgbackrest verify.
  The service's cost is judged as downtime with room for a busy shared disk, not as the
  availability of a short window (docs/targets-and-alerts.md, "What a backup costs").

  @trixie
  Scenario: A full backup restores to a new node with every acknowledged write
    Given a PostgreSQL cluster with 1 primary and 1 async replicas
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken
    Then an info alert "backup completed" fires within 5 seconds
    When I wait 1 seconds
    And I restore the latest backup to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the restore lost at most 0 acknowledged writes
    And every backup took under 30 seconds
    And the backup success rate is 100 %
    And the downtime is under 15 seconds

  @slow @alone
  Scenario: Differential and incremental backups on top of a full one restore the latest state
    Given a PostgreSQL cluster with 1 primary and 1 async replicas
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken
    And a differential backup was taken
    And an incremental backup was taken
    When I restore the latest backup to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 2 minutes
    And the RPO of the restore is under 1 seconds
    And the backup success rate is 100 %
    And backup verification succeeds
    And the downtime is under 15 seconds

  @slow
  Scenario: The primary is lost; the latest backup and the archived WAL are restored, the loss measured
    Given a PostgreSQL cluster with 1 primary and 1 async replicas
    And the service is not expected back in this drill
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken
    When I wait 2 seconds
    And I kill the primary
    And I restore the latest backup to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the restore lost at most 200 acknowledged writes

  @slow
  Scenario: The primary is lost with no replica; the on-call engineer restores from backup by the runbook
    The runbook verifies the repository from a helper container (no node of the cluster runs)
    and restores the newest set that verifies with the archived WAL into a new node. Slow
    only because the drill's end waits 30 s for probe writes that never resume (no primary).
    Given a PostgreSQL cluster with 1 primary and 0 async replicas
    And the service is not expected back in this drill
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken
    And the on-call engineer answers "Host lost and no replica: Restore from backup"
    When I wait 2 seconds
    And I kill the primary
    And the on-call engineer follows runbook "restore_from_backup"
    Then every runbook step succeeded
    And the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the restore lost at most 200 acknowledged writes
