@failover @alerting
Feature: Alerting notices the failures a drill injects
  The monitor samples every node once a second and runs the default alert rules
  (environments/alerts/default.yaml). A dead primary must raise a critical alert quickly,
  and the replicas' broken replication must clear once the harness has failed over.

  Scenario: A dead primary raises "database down" and failover clears "replication broken"
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    When I wait 2 seconds
    And I kill the primary
    Then a critical alert "database down" fires within 10 seconds
    And the detection time is under 5 seconds
    When the harness fails over to the most advanced replica
    And I wait 2 seconds
    Then the alert "replication broken" resolves within 20 seconds
    And the write RTO is under 10 seconds

  Scenario: A healthy cluster raises no critical alert
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 50 ms
    When I wait 3 seconds
    Then no critical alert fires
    And no acknowledged write is lost
    And the availability is at least 99.9 %

  Scenario: Configuration and schema changes raise info alerts, and a maintenance window is announced
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And the write probe is running every 50 ms
    When I wait 2 seconds
    And someone changes the setting "work_mem" to "8MB" on the primary
    Then an info alert "configuration change" fires within 10 seconds
    When a maintenance window of 30 minutes is announced
    Then an info alert "maintenance window" fires within 5 seconds
    And no critical alert fires
