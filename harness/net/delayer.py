"""A packet delayer on NFQUEUE, for kernels without the ``netem`` qdisc.

Run inside a node's network namespace (``nsenter -t PID -n python delayer.py ...``); an
iptables NFQUEUE rule sends the node's outgoing packets to queue ``--queue``, and this
process gives each one the verdict ACCEPT after ``delay ± jitter`` (uniform, like netem's
default). Release times never go backwards, so packets keep their order (netem with jitter
reorders; reordering makes TCP retransmit spuriously, which would measure something else).

It speaks nfnetlink directly (about 100 lines of ``struct``) so it needs nothing but the
standard library: no libnetfilter_queue, no compiler. Because the rule is installed with
``--queue-bypass`` and the queue with fail-open, packets pass undelayed whenever this
process is gone or overwhelmed: a crashed delayer never turns into a partition.

It exits (accepting everything it holds) on SIGTERM/SIGINT, and on its own when the
harness process ``--owner`` is gone, so a killed harness does not leave it behind.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

__all__ = ["main"]

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_CONFIG = 2
NFQNL_MSG_VERDICT_BATCH = 3
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NFQA_CFG_F_GSO = 4  # hand us GSO packets whole: we never read the payload
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _msg(msg_type: int, queue: int, attrs: bytes, flags: int, seq: int) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


class Queue:
    """One bound NFQUEUE: receive packet ids, give batched ACCEPT verdicts in order."""

    def __init__(self, num: int) -> None:
        self.num = num
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        except OSError:
            pass
        self.sock.bind((0, 0))
        self.seq = 0

    def _request(self, msg_type: int, attrs: bytes) -> None:
        self.seq += 1
        self.sock.send(_msg(msg_type, self.num, attrs, NLM_F_REQUEST | NLM_F_ACK, self.seq))
        while True:  # the ack (packets cannot arrive before the bind finished)
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, off)
                if kind == NLMSG_ERROR and seq == self.seq:
                    (err,) = struct.unpack_from("=i", data, off + 16)
                    if err != 0:
                        raise OSError(-err, f"nfqueue config {msg_type}: {os.strerror(-err)}")
                    return
                off += (length + 3) & ~3

    def bind(self) -> None:
        self._request(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)))
        self._request(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
                      + _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 100_000))
                      + _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO))
                      + _attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO)))

    def unbind(self) -> None:
        try:
            self._request(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_UNBIND, 0)))
        except OSError:
            pass

    def packet_ids(self) -> list[int]:
        """Read what is waiting (non-blocking) and return the packet ids, oldest first."""
        ids: list[int] = []
        while True:
            try:
                data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return ids
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # messages lost; the batch verdict covers them
                    continue
                raise
            off = 0
            while off + 20 <= len(data):
                length, kind, _, _, _ = struct.unpack_from("=IHHII", data, off)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    a = off + 20  # nlmsghdr + nfgenmsg
                    while a + 4 <= off + length:
                        alen, akind = struct.unpack_from("=HH", data, a)
                        if alen < 4:
                            break
                        if akind & 0x7FFF == NFQA_PACKET_HDR:
                            ids.append(struct.unpack_from("!I", data, a + 4)[0])
                            break
                        a += (alen + 3) & ~3
                off += (length + 3) & ~3

    def accept_upto(self, packet_id: int) -> None:
        """ACCEPT every queued packet with an id up to ``packet_id`` (one message)."""
        self.seq += 1
        attrs = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
        self.sock.send(_msg(NFQNL_MSG_VERDICT_BATCH, self.num, attrs, NLM_F_REQUEST, self.seq))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(queue: int, delay_s: float, jitter_s: float, owner: int, seed: int | None) -> int:
    rng = random.Random(seed)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    q = Queue(queue)
    q.bind()
    print("ready", flush=True)  # the harness waits for this line before sending traffic here
    held: list[tuple[float, int]] = []  # (release time, packet id), release times non-decreasing
    last_release = 0.0
    highest = 0
    next_owner_check = time.monotonic() + 0.5
    while not stop:
        timeout = 0.5 if not held else max(0.0, held[0][0] - time.monotonic())
        try:
            readable, _, _ = select.select([q.sock], [], [], min(timeout, 0.5))
        except InterruptedError:
            continue
        t = time.monotonic()
        if readable:
            for pid in q.packet_ids():
                release = max(t + delay_s + rng.uniform(-jitter_s, jitter_s), last_release)
                last_release = release
                heapq.heappush(held, (release, pid))
                highest = max(highest, pid)
        due = 0
        while held and held[0][0] <= time.monotonic():
            due = max(due, heapq.heappop(held)[1])
        if due:
            q.accept_upto(due)
        if t >= next_owner_check:
            next_owner_check = t + 0.5
            if owner and not _alive(owner):
                break
    if highest:
        q.accept_upto(highest)  # let go of everything still held
    q.unbind()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--owner", type=int, default=0, help="exit when this process is gone")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    return run(a.queue, a.delay_ms / 1000, a.jitter_ms / 1000, a.owner, a.seed)


if __name__ == "__main__":
    sys.exit(main())
