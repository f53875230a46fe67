@freeze @async_replication
Feature: Outages as a client sees them
  An outage is a span without a surviving acknowledged write, longer than the outage
  threshold; each fault's write RTO runs from the fault to the end of the outage it caused,
  and the downtime of a drill is judged against the monthly error budget (99.9 % of 30 days
  is 2592 s), not against a few seconds' availability.

  Scenario: Two short freezes of the primary are two outages, each with its own RTO
    Given a PostgreSQL cluster with 1 primary and 1 async replica
    And an outage is any 250 ms without an acknowledged write
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And I pause the primary for 800 ms
    And I wait 1.5 seconds
    And I pause the primary for 500 ms
    And I wait 1.5 seconds
    Then the write RTO is under 2 seconds
    And the downtime is under 3 seconds
    And the drill used at most 1 % of the monthly error budget
    And no acknowledged write is lost
