"""Rule generation of the network faults, without Docker: plans, nft text, tc/iptables args, rates."""

from __future__ import annotations

import ipaddress
import re

import pytest

from harness.errors import ForeignResource
from harness.net.netns import RunNetwork
from harness.net.rules import (
    CLIENTS,
    NodeCut,
    bridge,
    cut_between,
    format_rate,
    halves,
    isolate,
    nft_corrupt_table,
    nft_duplicate_table,
    nft_loss_table,
    nft_partition_table,
    one_way,
    parse_rate,
    per_node_cuts,
    queue_chain_removal,
    queue_chain_rules,
    table_name,
    tbf_args,
)
from harness.steps.network import _members
from harness.steps.types import EXTRA_TYPES

NODES = ["node1", "node2", "node3"]
ADDR = {"node1": "10.9.0.2", "node2": "10.9.0.3", "node3": "10.9.0.4", CLIENTS: "10.9.0.1"}


# -- plans -------------------------------------------------------------------------------------


def test_isolate_cuts_every_peer_and_the_clients_both_ways() -> None:
    pairs = isolate("node1", NODES)
    assert pairs == {(a, b) for x in ("node2", "node3", CLIENTS) for a, b in (("node1", x), (x, "node1"))}
    assert isolate("node1", NODES, clients=False) == cut_between(["node1"], ["node2", "node3"])


def test_one_way_blocks_only_the_sender_to_receiver_direction() -> None:
    assert one_way("node1", "node2") == {("node1", "node2")}
    cuts = per_node_cuts(one_way("node1", "node2"), ADDR)
    # Enforced at both ends: the sender drops on output, the receiver on input; nothing else.
    assert cuts == {"node1": NodeCut("node1", frozenset(), frozenset({"10.9.0.3"})),
                    "node2": NodeCut("node2", frozenset({"10.9.0.2"}), frozenset())}


def test_halves_put_the_first_listed_node_in_the_smaller_side() -> None:
    assert halves(NODES) == (["node1"], ["node2", "node3"])
    assert halves(["a", "b", "c", "d"]) == (["a", "b"], ["c", "d"])
    assert halves(["a", "b", "c", "d", "e"]) == (["a", "b"], ["c", "d", "e"])


def test_bridge_node_is_in_no_cut_pair_and_the_sides_are_cut() -> None:
    a, b, pairs = bridge(["node1", "node2", "node3"], "node2")
    assert (a, b) == (["node1"], ["node3"])
    assert pairs == {("node1", "node3"), ("node3", "node1")}
    a, b, pairs = bridge(["n1", "n2", "n3", "n4", "n5"], "n3")
    assert all("n3" not in p for p in pairs)
    assert len(pairs) == 2 * len(a) * len(b)


def test_cut_from_clients_only_touches_the_node() -> None:
    cuts = per_node_cuts(cut_between(["node1"], [CLIENTS]), ADDR)
    assert list(cuts) == ["node1"]
    assert cuts["node1"].drop_from == {"10.9.0.1"} and cuts["node1"].drop_to == {"10.9.0.1"}


def test_per_node_cuts_of_a_partition_leave_the_uninvolved_out() -> None:
    cuts = per_node_cuts(cut_between(["node1"], ["node2"]), ADDR)
    assert set(cuts) == {"node1", "node2"}
    assert cuts["node1"].drop_from == cuts["node1"].drop_to == {"10.9.0.3"}
    with pytest.raises(KeyError):
        per_node_cuts({("node1", "node9")}, ADDR)


# -- nft text ----------------------------------------------------------------------------------


def test_partition_table_is_private_hooked_early_and_matches_only_eth0() -> None:
    text = nft_partition_table(table_name("abc123"), NodeCut("node1", frozenset({"10.9.0.3", "10.9.0.4"}),
                                                             frozenset({"10.9.0.3"})), "pgharness test")
    assert text.startswith("table inet pgharness_abc123 {")
    assert "type filter hook input priority -300; policy accept;" in text
    assert "type filter hook output priority -300; policy accept;" in text
    assert 'iifname "eth0" ip saddr { 10.9.0.3, 10.9.0.4 } drop' in text
    assert 'oifname "eth0" ip daddr { 10.9.0.3 } drop' in text
    # Never Docker's table, never a flush, never a policy drop.
    assert "nat" not in text and "flush" not in text and "policy drop" not in text


def test_partition_table_without_inputs_has_no_input_chain() -> None:
    text = nft_partition_table("pgharness_x1", NodeCut("n", frozenset(), frozenset({"10.9.0.3"})))
    assert "hook input" not in text and "hook output" in text


def test_rules_refuse_anything_but_plain_ipv4_addresses() -> None:
    with pytest.raises(ValueError):
        nft_partition_table("pgharness_x1", NodeCut("n", frozenset({"10.9.0.0/16"}), frozenset()))
    with pytest.raises(ValueError):
        nft_loss_table("pgharness_x1", 10, ["1.2.3.4; flush ruleset"])
    with pytest.raises(ValueError):
        table_name("../x")


def test_comment_cannot_break_out_of_its_quotes() -> None:
    text = nft_loss_table("pgharness_x1", 5, None, 'evil" ; flush ruleset ; "')
    assert text.count('"') == 4  # the comment's pair and eth0's pair
    assert re.search(r'comment "[^"]*"', text)


def test_loss_uses_numgen_in_basis_points() -> None:
    assert 'oifname "eth0" numgen random mod 10000 < 3000 drop' in nft_loss_table("pgharness_a", 30)
    assert "numgen random mod 10000 < 25 drop" in nft_loss_table("pgharness_a", 0.25)
    assert 'ip daddr { 10.9.0.3 } numgen' in nft_loss_table("pgharness_a", 30, ["10.9.0.3"])
    with pytest.raises(ValueError):
        nft_loss_table("pgharness_a", 130)


def test_duplicate_is_ip_family_and_corrupt_only_touches_tcp_udp_payload() -> None:
    dup = nft_duplicate_table("pgharness_d", 20)
    assert dup.startswith("table ip pgharness_d {") and 'dup to ip daddr device "eth0"' in dup
    cor = nft_corrupt_table("pgharness_c", 1)
    assert "meta l4proto { tcp, udp }" in cor and "@ih,0,16 set 0xffff" in cor


# -- iptables and tc ---------------------------------------------------------------------------


def test_queue_chain_is_private_bypassable_and_removable() -> None:
    rules = queue_chain_rules("PGH-abc123", 4242)
    assert rules[0] == ["-N", "PGH-abc123"]
    assert rules[1] == ["-A", "PGH-abc123", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", "4242", "--queue-bypass"]
    assert rules[-1] == ["-A", "OUTPUT", "-j", "PGH-abc123"]  # the jump comes last: the chain is complete first
    per_peer = queue_chain_rules("PGH-abc123", 4242, ["10.9.0.3"])
    assert ["-d", "10.9.0.3"] == per_peer[1][4:6]
    assert queue_chain_removal("PGH-abc123") == [["-D", "OUTPUT", "-j", "PGH-abc123"], ["-F", "PGH-abc123"],
                                                 ["-X", "PGH-abc123"]]
    with pytest.raises(ValueError):
        queue_chain_rules("DOCKER", 1)
    with pytest.raises(ValueError):
        queue_chain_rules("PGH-x", 0)


def test_tbf_has_our_handle_a_sane_burst_and_a_latency_bound() -> None:
    args = tbf_args(1e6)
    assert args[:8] == ["qdisc", "add", "dev", "eth0", "root", "handle", "5047:", "tbf"]
    assert args[args.index("rate") + 1] == "1000000bit"
    assert int(args[args.index("burst") + 1]) >= 16 * 1024
    assert int(tbf_args(1e9)[tbf_args(1e9).index("burst") + 1]) == 1e9 // 8 // 50  # 20 ms at high rates
    assert "latency" in args


@pytest.mark.parametrize(("text", "bits"), [
    ("1 mbit/s", 1e6), ("500 kbit/s", 5e5), ("2 MB/s", 1.6e7), ("10mbps", 1e7), ("1 gbit/s", 1e9),
    ("64 kB/s", 512e3), ("1.5 Mbit/s", 1.5e6), ("100 bit/s", 100),
])
def test_parse_rate(text: str, bits: float) -> None:
    assert parse_rate(text) == pytest.approx(bits)


@pytest.mark.parametrize("text", ["fast", "1 furlong/s", "0 mbit/s", "-1 mbit/s", "mbit/s"])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_format_rate() -> None:
    assert format_rate(1e6) == "1 mbit/s"
    assert format_rate(958e3) == "958 kbit/s"
    assert format_rate(2.5e9) == "2.5 gbit/s"


def test_step_types_parse_rates_and_groups() -> None:
    rate = EXTRA_TYPES["Rate"]
    assert re.fullmatch(rate.pattern, "1 mbit/s")  # type: ignore[attr-defined]
    assert rate("1 mbit/s") == 1e6
    assert EXTRA_TYPES["RateUnit"]("kbit/s") == 1e3
    assert _members("the primary, replica 1 and node3") == ["the primary", "replica 1", "node3"]


# -- the address guard -------------------------------------------------------------------------


def test_run_network_refuses_addresses_outside_the_run() -> None:
    net = RunNetwork("pgh-x", ipaddress.IPv4Network("10.9.0.0/24"), "10.9.0.1")
    assert net.check("10.9.0.3") == "10.9.0.3"
    for bad in ("10.9.1.3", "8.8.8.8", "127.0.0.11", "not-an-ip", "10.9.0.0/24"):
        with pytest.raises(ForeignResource):
            net.check(bad)
