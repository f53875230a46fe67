@dr @multi_region
Feature: Disaster recovery across two regions
  Region "east" holds the primary and a local replica, region "west" a DR standby streaming
  across a WAN link (environments/two-region.yaml: 50 ms round trip, 1 gbit/s). Each region
  is its own Docker network; a router container joins them and the WAN is shaped on it.
  The RPO exposure (acknowledged writes not yet in the DR region, and for how long) is
  sampled twice a second all along.

  @failover
  Scenario: Region east is lost and the on-call engineer promotes west by runbook
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the WAN link between "east" and "west" has 50 ms latency
    And the write probe is running every 50 ms
    And the on-call engineer answers "Promote the DR region"
    When I wait 1 seconds
    And region "east" is lost
    And the on-call engineer follows runbook "region_down"
    Then every runbook step completed
    And the primary is in region "west"
    And the DR RTO is under 1 hour
    And the RPO is under 15 minutes
    And the RPO exposure stayed under 5 seconds

  @failover
  Scenario: Region east comes back as standbys and the primary fails back to it
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And region "east" is lost
    And the on-call engineer follows runbook "region_down"
    And region "east" comes back
    And I fail back to region "east"
    Then the primary is in region "east"
    And all replicas are streaming from the primary within 30 seconds
    And the fail back took under 30 seconds
    And the DR RTO is under 1 hour
    And the RPO is under 15 minutes

  @failover @network
  Scenario: Region east is cut off, west is promoted, and the fenced old primary rejoins without a split brain
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the fan-out write probe is running
    When I wait 1 seconds
    And region "east" is cut off
    And the on-call engineer follows runbook "region_down"
    And I wait 2 seconds
    And region "east" comes back
    Then only one region accepted writes at any time
    And the primary is in region "west"
    And all replicas are streaming from the primary within 30 seconds
    And the DR RTO is under 1 hour
    And the RPO is under 15 minutes

  Scenario: Losing the DR region costs the DR copy, not the service
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And region "west" is lost
    And I wait 2 seconds
    And region "west" comes back
    Then the primary is in region "east"
    And the standby in "west" catches up within 30 seconds
    And no acknowledged write is lost
    And the availability is at least 95 %

  @network
  Scenario: The WAN link is lost; east keeps the primary, nothing is promoted, the writes at risk are counted
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the fan-out write probe is running
    When I wait 1 seconds
    And the WAN link between "east" and "west" is lost
    And I wait 4 seconds
    And the WAN link between "east" and "west" is restored
    Then the standby in "west" catches up within 30 seconds
    And only one region accepted writes at any time
    And the primary is in region "east"
    And the RPO exposure reached at least 2 seconds
    And no acknowledged write is lost
    And the downtime is under 1 second
    And the measured WAN round trip between "east" and "west" is between 45 and 200 ms

  @network @sync_replication
  Scenario: With commits waiting for west, a lost WAN link stops writes instead of putting them at risk
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And commits in "east" wait for the standby in "west"
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And the WAN link between "east" and "west" is lost
    And I wait 3 seconds
    And the WAN link between "east" and "west" is restored
    Then the standby in "west" catches up within 30 seconds
    And no acknowledged write was ever at risk of a region loss
    And no acknowledged write is lost

  @network
  Scenario: A slow WAN lets west fall behind, and the RPO exposure is measured all along
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the WAN link between "east" and "west" has 50 ms latency
    And the write probe is running every 50 ms
    When the WAN link between "east" and "west" slows to 200 ms latency and 2 mbit/s of bandwidth
    And I generate 2 MB of WAL on the primary
    Then the standby in "west" catches up within 60 seconds
    And the RPO exposure reached at least 2 seconds
    And the RPO exposure stayed under 2 minutes
    And the availability is at least 95 %

  @failover @slow @alone
  Scenario: MTTR of the region-loss drill over 3 repetitions
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the write probe is running every 50 ms
    When I run 3 drills of losing region "east" with runbook "region_down"
    Then the MTTR over 3 drills is under 30 minutes
    And the RPO is under 15 minutes
    And the availability is at least 80 %

  @failover @slow @alone
  Scenario: MTTR of the region-loss drill over 5 repetitions
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And the WAN link between "east" and "west" has 50 ms latency
    And the write probe is running every 50 ms
    When I run 5 drills of losing region "east" with runbook "region_down"
    Then the MTTR over 5 drills is under 30 minutes
    And the RPO is under 15 minutes
    And every runbook step completed
    And the availability is at least 80 %

  # The application's own connection string lists every node of both regions: once west is
  # promoted, libpq's target_session_attrs=read-write finds it without being repointed.
  @failover @client_path @slow
  Scenario: Region east is lost: clients with a multi-host connection string find west's promoted primary
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And clients connect with a multi-host connection string
    And the write probe is running every 50 ms
    And the on-call engineer answers "Promote the DR region"
    When I wait 1 seconds
    And region "east" is lost
    And the on-call engineer follows runbook "region_down"
    Then every runbook step completed
    And the primary is in region "west"
    And the write RTO through the client path is under 60 seconds
    And the writes through the client path after the fault went to the primary

  # One service address in front of both regions: HAProxy (or PgBouncer) joins both regions'
  # networks, as a global load balancer does. HAProxy finds west's promoted primary by its own
  # checks (in_hot_standby at login); PgBouncer in front of the primary is repointed by the
  # runbook's promotion, as a team's failover hook does.
  @failover @client_path @slow
  Scenario Outline: Region east is lost: clients through <path> find west's promoted primary
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And clients connect <how>
    And the write probe is running every 50 ms
    And the on-call engineer answers "Promote the DR region"
    When I wait 1 seconds
    And region "east" is lost
    And the on-call engineer follows runbook "region_down"
    Then every runbook step completed
    And the primary is in region "west"
    And the write RTO through the client path is under 60 seconds
    And the writes through the client path after the fault went to the primary

    Examples:
      | path      | how                                  |
      | HAProxy   | through HAProxy                      |
      | PgBouncer | through PgBouncer in front of the primary |

  # Cut off, east's primary still runs and still believes it leads. The cut drops HAProxy too
  # (it is a client of that region): no write reaches the deposed primary through the path,
  # and after the fence east rejoins as standbys.
  @failover @client_path @network @slow
  Scenario: Region east is cut off behind HAProxy: the path sends no write to the deposed primary
    Given a two-region deployment with the primary in "east" and a standby in "west"
    And clients connect through HAProxy
    And the write probe is running every 50 ms
    When I wait 1 seconds
    And region "east" is cut off
    And the on-call engineer follows runbook "region_down"
    And I wait 2 seconds
    And region "east" comes back
    Then the primary is in region "west"
    And the client path sent no write to the deposed primary
    And the writes through the client path after the fault went to the primary
