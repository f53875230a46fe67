"""Network machinery of the faults: namespaces, rule generation, the delayer, measurements.

The faults themselves live in :mod:`harness.faults.network`; this package is what they use:

- :mod:`harness.net.rules` - pure: partition plans, nft/tc/iptables text, rate parsing;
- :mod:`harness.net.netns` - run host tools inside a node's network namespace (guarded);
- :mod:`harness.net.delay` / :mod:`harness.net.delayer` - the NFQUEUE delayer (no netem here);
- :mod:`harness.net.measure` - what was actually achieved (RTT, loss, throughput, reachability).
"""

from harness.net.measure import LinkMeasurement
from harness.net.netns import NetNS, NodeDown, RunNetwork
from harness.net.rules import CLIENTS, format_rate, parse_rate

__all__ = ["CLIENTS", "LinkMeasurement", "NetNS", "NodeDown", "RunNetwork", "format_rate", "parse_rate"]
