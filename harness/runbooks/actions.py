"""What an automated runbook step can ask the harness to do, by name."""

from __future__ import annotations

from collections.abc import Callable

from harness.drill import Drill
from harness.errors import SetupError, TargetMissed

__all__ = ["ACTIONS", "run_action"]


def _check_connectivity(d: Drill) -> str:
    writable = d.cluster.writable_nodes()
    if len(writable) != 1:
        raise TargetMissed("connectivity check", f"writable nodes: {writable or 'none'}", "exactly one")
    return f"{writable[0]} accepts writes"


def _rejoin_old_primary(d: Drill) -> str:
    return d.restart("the old primary")


def _wait_streaming(d: Drill) -> str:
    return "streaming: " + ", ".join(d.expect_streaming(60))


def _heal_all(d: Drill) -> str:
    errors = d.heal_all()
    return "healed" + (f" with errors: {errors}" if errors else "")


def _free_disks(d: Drill) -> str:
    from harness.faults.disk import FillDisk

    healed = [f for f in list(d.faults.active) if isinstance(f, FillDisk)]
    for f in healed:
        d.faults.heal(f)
    return f"freed {len(healed)} volumes"


def _restart_down_nodes(d: Drill) -> str:
    c = d.cluster
    done = [f"{n}: {d.restart(n)}" for n in sorted(c.roles.down)]
    return "; ".join(done) or "nothing was down"


def _promote_dr_standby(d: Drill) -> str:
    from harness.recovery.regions import regions_of

    c = regions_of(d)  # the standby of the region without the primary
    return f"promoted {c.promote_in(c.dr_region())} (clients not moved yet)"


def _repoint_clients(d: Drill) -> str:
    from harness.recovery.regions import repoint_clients

    return f"clients now use {repoint_clients(d)}"


def _verify_backups(d: Drill) -> str:
    from harness.backup.session import BackupSession

    ok, out = BackupSession.of(d).verify_ok()
    return ("every backup verifies" if ok else "verification FAILED: ") + ("" if ok else out.strip()[-300:])


def _restore_newest_verified(d: Drill) -> str:
    from harness.backup.session import BackupSession

    r = BackupSession.of(d).restore_verified(with_archive=True)
    if not r.ok:
        raise TargetMissed("restore from backup", "; ".join(r.problems), "a verified restore")
    return f"{r.node} restored ({r.target.describe()}), writable and verified"


ACTIONS: dict[str, Callable[[Drill], str]] = {
    "check connectivity": _check_connectivity,
    "fail over": lambda d: f"promoted {d.failover()}",
    "rejoin the old primary": _rejoin_old_primary,
    "restart down nodes": _restart_down_nodes,
    "wait for streaming": _wait_streaming,
    "free the disks": _free_disks,
    "heal all faults": _heal_all,
    "promote the dr standby": _promote_dr_standby,
    "repoint clients": _repoint_clients,
    "verify the backups": _verify_backups,
    "restore the newest verified backup": _restore_newest_verified,
}


def run_action(name: str, drill: Drill) -> str:
    try:
        fn = ACTIONS[name.strip().lower()]
    except KeyError:
        raise SetupError(f"unknown runbook action {name!r}: one of {', '.join(sorted(ACTIONS))}") from None
    return fn(drill)
