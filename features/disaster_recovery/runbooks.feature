@failover
Feature: Recovery by runbook
  The on-call engineer follows a runbook (the template in docs/runbooks.md); automated steps are harness
  actions or shell commands on a node, manual steps take a scripted answer in CI (a person
  answers at the prompt with `harness drill --interactive`). Every step is timed in the journal.

  @async_replication
  Scenario: The primary dies and the database_down runbook brings the service back
    Given a PostgreSQL cluster with 1 primary and 2 async replicas
    And the write probe is running every 50 ms
    And the on-call engineer answers "Host lost"
    When I wait 1 seconds
    And I kill the primary
    And the on-call engineer follows runbook "database_down"
    Then every runbook step succeeded
    And the runbook took under 2 minutes
    And the cluster has exactly one primary within 30 seconds
    And all replicas are streaming from the primary within 30 seconds
    And the write RTO is under 30 seconds
