"""``zantara-nb retention apply [--dry-run]`` and ``zantara-nb retention status``."""

from __future__ import annotations

import argparse


def add_parser(sub, add_warehouse) -> None:
    """Register ``retention`` and its subcommands on the main parser's subparsers."""
    p = sub.add_parser(
        "retention", help="retention policy: roll up, then delete raw data past its age"
    )
    rsub = p.add_subparsers(dest="retention_command", required=True)
    q = rsub.add_parser(
        "apply", help="roll up the days about to go, delete raw events/quarantine/persons past age"
    )
    q.add_argument("--dry-run", action="store_true", help="print what would be deleted and kept")
    q.add_argument(
        "--policy", help="policy file (default parameters/retention.yaml; seed: events 90 days)"
    )
    q.add_argument("--today", help="run as of this local day (YYYY-MM-DD; default: today)")
    add_warehouse(q)
    q.set_defaults(func=cmd_apply)
    q = rsub.add_parser("status", help="the last retention run: cut-off, horizon, roll-ups")
    add_warehouse(q)
    q.set_defaults(func=cmd_status)


def cmd_apply(args: argparse.Namespace) -> int:
    from ..warehouse.connection import Warehouse
    from .apply import apply_retention
    from .policy import load_policy

    policy = load_policy(args.policy)
    with Warehouse(args.warehouse) as wh:
        res = apply_retention(wh, policy, today=args.today, dry_run=args.dry_run)
    print(res)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..warehouse.connection import Warehouse
    from ..warehouse.rollups import retention_state

    with Warehouse(args.warehouse, read_only=True) as wh:
        state = retention_state(wh)
    print(state.note() if state else "the retention policy has never been applied")
    return 0
