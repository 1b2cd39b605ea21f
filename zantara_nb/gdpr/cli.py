"""``zantara-nb gdpr export ID`` / ``zantara-nb gdpr delete ID [--dry-run]`` / ``gdpr audit``."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub, add_warehouse) -> None:
    """Register ``gdpr`` and its subcommands on the main parser's subparsers."""
    p = sub.add_parser("gdpr", help="rights of the person: export, delete (with audit), audit log")
    gsub = p.add_subparsers(dest="gdpr_command", required=True)

    q = gsub.add_parser(
        "export", help="every row the warehouse holds about a person, as one JSON file"
    )
    q.add_argument("id", help="person id, any distinct id, or an e-mail in person properties")
    q.add_argument("--out", "-o", help="output file (default gdpr-export-<hash>.json)")
    q.add_argument("--dry-run", action="store_true", help="show the identity group and counts only")
    add_warehouse(q)
    q.set_defaults(func=cmd_export)

    q = gsub.add_parser(
        "delete", help="erase a person everywhere (audit row, suppression of their ids)"
    )
    q.add_argument(
        "ids", nargs="+", metavar="ID", help="person id, distinct id or e-mail (repeatable)"
    )
    q.add_argument(
        "--dry-run", action="store_true", help="show what would be deleted, change nothing"
    )
    q.add_argument("--reports-dir", default="reports", help="stored report runs (default reports/)")
    q.add_argument(
        "--posthog",
        action="store_true",
        help="also delete the person and their events in PostHog ($POSTHOG_HOST, "
        "$POSTHOG_PROJECT_ID, key in $POSTHOG_PERSONAL_API_KEY)",
    )
    q.add_argument("--posthog-host", help="us, eu or a URL (default $POSTHOG_HOST)")
    q.add_argument("--posthog-project", help="project id (default $POSTHOG_PROJECT_ID)")
    q.add_argument("--yes", action="store_true", help="(accepted; the command never prompts)")
    add_warehouse(q)
    q.set_defaults(func=cmd_delete)

    q = gsub.add_parser("audit", help="the GDPR audit log (hashed ids, counts, never data)")
    add_warehouse(q)
    q.set_defaults(func=cmd_audit)


def cmd_export(args: argparse.Namespace) -> int:
    from ..warehouse.connection import Warehouse
    from .export import export_person
    from .resolve import resolve

    with Warehouse(args.warehouse) as wh:
        with wh.reading():
            group = resolve(wh, args.id)
        print(group.describe())
        if not group.found:
            return 1
        if args.dry_run:
            return 0
        path, counts = export_person(wh, args.id, args.out, group=group)
    print(f"wrote {path}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..warehouse.connection import Warehouse
    from .erase import delete_persons

    client = None
    if args.posthog and not args.dry_run:
        from .posthog import PersonsClient

        client = PersonsClient.from_environment(args.posthog_host, args.posthog_project)
        if client is None:
            print(
                "error: --posthog needs a host and a project ($POSTHOG_HOST, $POSTHOG_PROJECT_ID "
                "or --posthog-host/--posthog-project)",
                file=sys.stderr,
            )
            return 2
    with Warehouse(args.warehouse) as wh:
        res = delete_persons(
            wh, args.ids, dry_run=args.dry_run, reports_dir=args.reports_dir, posthog=client
        )
    print(res)
    return 0 if res.found else 1


def cmd_audit(args: argparse.Namespace) -> int:
    from ..warehouse.connection import Warehouse
    from . import tables

    with Warehouse(args.warehouse, read_only=True) as wh:
        if not tables.exists(wh, "gdpr_audit"):
            print("no GDPR request recorded")
            return 0
        df = wh.sql(
            "SELECT requested_at, action, status, substr(id_hash, 1, 12) AS id_hash, "
            "rows_json, runs_json, posthog FROM gdpr_audit ORDER BY requested_at"
        )
    print(df.to_string(index=False))
    return 0
