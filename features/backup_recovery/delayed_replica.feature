@backup @delayed_replica
Feature: A delayed replica gives an accidentally dropped table back
  Replica 2 applies WAL 5 minutes late (recovery_min_apply_delay): it has received the DROP but
  not applied it. The recovery pauses its replay at once, rolls it forward at full speed to just
  before the drop (recovery_target_xid, exclusive), copies the table back to the primary
  (pg_dump -t on the standby, pg_restore in one transaction) and makes it a delayed replica
  again; nobody waits out the delay. Each phase is in the journal and the replicas section of
  the report, beside PITR's time when the same drill restores the backup too.

  Scenario: Recover a dropped table from the delayed replica
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And replica 1 applies WAL 5 minutes late
    And a table "orders" with 1000 rows
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I drop table "orders" by accident
    And I recover table "orders" from the delayed replica
    Then table "orders" has 1000 rows on the primary
    And the recovery from the delayed replica took under 2 minutes
    And no acknowledged write is lost

  Scenario: The probe's own table dropped: writes come back with it, none lost
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And replica 1 applies WAL 5 minutes late
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I drop table "probe" by accident
    And I recover table "probe" from the delayed replica
    Then no acknowledged write is lost
    And the write RTO is under 1 minute

  @pitr @slow
  Scenario: The same drop recovered from the delayed replica and by PITR from the backup
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And replica 2 applies WAL 5 minutes late
    And WAL archiving to a pgBackRest repository
    And the write probe is running every 50 ms
    And a full backup was taken
    When I wait 1 seconds
    And I drop table "probe" by accident
    And I recover table "probe" from the delayed replica
    And I restore to the moment before the drop to a new node
    Then the restored node has every acknowledged write up to the recovery target
    And no acknowledged write is lost
    And the restore RTO is under 5 minutes
