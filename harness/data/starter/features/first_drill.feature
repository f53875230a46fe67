Feature: Our database survives losing its primary
  The first drill of this project, written by `harness init`. The topology and the targets
  come from environments/my-cluster.yaml; copy this file to write more drills (`harness env list`
  shows the environments there are, the project's own and the built-in ones).

  Scenario: Kill the primary and fail over to the replica
    Given the environment "my-cluster"
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I kill the primary
    And the harness fails over to the most advanced replica
    And I wait 8 seconds
    Then the cluster has exactly one primary within 30 seconds
    And the write RTO is under 30 seconds
    And at most 100 acknowledged writes are lost
    And the availability is at least 50 %
