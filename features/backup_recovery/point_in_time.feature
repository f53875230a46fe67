@backup @pitr
Feature: Point-in-time recovery into a new node
  Each recovery target is made on the primary while the probe writes; the restore stops there:
  writes acknowledged before the target are present, writes begun after it are absent, and the
  RPO checker counts the latter as the restore's loss.
  The service's cost is judged as downtime with room for a busy shared disk, not as the
  availability of a short window (docs/targets-and-alerts.md, "What a backup costs").

  Background:
    Given a PostgreSQL cluster with 1 primary and 1 async replicas
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken

  Scenario: Restore to a point in time
    When I wait 1 seconds
    And I note the current time
    And I wait 1 seconds
    And I restore to the noted time to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the restore lost at most 100 acknowledged writes
    And the RPO of the restore is under 15 minutes
    And the downtime is under 15 seconds

  @slow @alone
  Scenario: Restore to a transaction id
    When I wait 1 seconds
    And I note the current transaction id
    And I restore to the noted transaction id to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the downtime is under 15 seconds

  @slow @alone
  Scenario: Restore to an LSN
    When I wait 1 seconds
    And I note the current LSN
    And I restore to the noted LSN to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the downtime is under 15 seconds

  @slow @alone
  Scenario: Restore to a named restore point
    When I create restore point "before_migration"
    And I wait 1 seconds
    And I restore to restore point "before_migration" to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And the restore RTO is under 5 minutes
    And the RPO of the restore is under 15 minutes
    And the downtime is under 15 seconds

  Scenario: Restore to the moment before an accidental DROP TABLE
    Given a table "orders" with 100 rows
    When I wait 1 seconds
    And I drop table "orders" by accident
    And I restore to the moment before the drop to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And table "orders" is back on the restored node
    And the restore RTO is under 5 minutes
    And the downtime is under 15 seconds
