"""The ``zantara-nb`` command line: ingest, status, demo, stitch (and more as they land)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from . import __version__


def _add_warehouse(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse",
        "-w",
        help="warehouse: a DuckDB file, chdb:DIR or clickhouse://user@host:8123/db "
        "(default: $ZANTARA_WAREHOUSE or data/zantara.duckdb)",
    )


def _parse_mapping(items: Sequence[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    mapping = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--map expects canonical=source, got {item!r}")
        k, v = item.split("=", 1)
        mapping[k.strip()] = v.strip()
    return mapping


def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import IngestError, ingest
    from .warehouse.connection import Warehouse

    with Warehouse(args.warehouse) as wh:
        failed = 0
        for path in args.paths:
            try:
                if Path(path).is_dir():  # a PostHog batch-export folder
                    from .ingest.posthog_exports import load_export_folder

                    summaries = load_export_folder(wh, path)
                else:
                    summaries = ingest(
                        wh, [path], format=args.format, mapping=_parse_mapping(args.map)
                    )
            except IngestError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
                continue
            for s in summaries:
                print(s)
                print()
                failed += int(s.nothing_read)
    return 1 if failed == len(args.paths) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from . import config
    from .warehouse.connection import Warehouse
    from .warehouse.engines import parse_address

    engine, where = parse_address(args.warehouse or os.environ.get("ZANTARA_WAREHOUSE"))
    if engine == "clickhouse":
        path = where
    else:
        path = config.warehouse_path(where)
        if not path.exists():
            print(
                f"error: {path}: no warehouse here (run `zantara-nb demo` or `zantara-nb ingest`)",
                file=sys.stderr,
            )
            return 2
    with Warehouse(path, engine=engine, read_only=True) as wh:
        print(wh.status())
        from .ingest.posthog_state import status_lines

        for line in status_lines(wh):  # PostHog cursors, and its persons against ours
            print(line)
    return 0


def cmd_warehouse_ddl(args: argparse.Namespace) -> int:
    if args.engine == "duckdb":
        from .warehouse.schema import DDL

        print(";\n".join(textwrap.dedent(s).strip() for s in DDL) + ";")
        return 0
    from .warehouse.clickhouse_schema import ddl_script

    print(ddl_script(cluster=args.cluster, database=args.database), end="")
    return 0


def cmd_stitch(args: argparse.Namespace) -> int:
    from .warehouse.connection import Warehouse
    from .warehouse.identity import stitch

    with Warehouse(args.warehouse) as wh:
        print(stitch(wh))
    return 0


def _demo_loads(address: str | Path) -> list[str]:
    """The source paths of the loads already in the warehouse at ``address``."""
    from .warehouse.connection import Warehouse

    with Warehouse(address, read_only=True) as wh:
        return [str(r[0]) for r in wh.execute("SELECT path FROM loads").fetchall()]


def _clear_for_demo(args: argparse.Namespace) -> tuple[str | Path, str | None]:
    """(address, refusal) of the demo's warehouse, emptied when it may be replaced.

    A DuckDB file or a chdb directory holding only earlier demo loads (or any data, with
    ``--force``) is removed; a ClickHouse server database is never dropped from here: the
    demo loads into it only when it holds no loads yet.
    """
    import shutil

    from .warehouse.engines import configured_address, data_path

    engine, where = configured_address(args.warehouse)
    if engine == "clickhouse":
        if _demo_loads(where):
            return where, (
                f"{where}: this ClickHouse database already holds loads; the demo loads "
                "only into an empty one (create another database, or drop its tables)"
            )
        return where, None
    path = data_path(args.warehouse)
    if path is None:  # in memory: nothing to replace
        return f"{engine}::memory:", None
    address: str | Path = f"chdb:{path}" if engine == "chdb" else path
    if not path.exists():
        return address, None
    if path.is_dir() and any(path.iterdir()) and not (path / "metadata").is_dir():
        return address, f"{path}: a directory that is not a chdb warehouse; not touching it"
    if not args.force and any(str(Path(args.out)) not in p for p in _demo_loads(address)):
        return address, (
            f"{path} holds data loaded from files outside {args.out}; "
            "refusing to replace it with demo data (use --warehouse or --force)"
        )
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
        Path(str(path) + ".wal").unlink(missing_ok=True)
    return address, None


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.generate import DemoConfig, load_demo
    from .warehouse.connection import Warehouse

    address, refusal = _clear_for_demo(args)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    cfg_kwargs = dict(
        seed=args.seed,
        monthly_active_users=args.mau,
        incidents=not args.no_incidents,
        out_dir=args.out,
        format=args.format,
    )
    if args.start:
        cfg_kwargs["start"] = args.start
    if args.end:
        cfg_kwargs["end"] = args.end
    cfg = DemoConfig(**cfg_kwargs)
    with Warehouse(address) as wh:
        result = load_demo(wh, cfg)
        print(result)
        print()
        print(wh.status())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .reporting.runner import run_suite

    res = run_suite(
        args.params,
        as_of=args.as_of,
        only=args.only,
        send_email=not args.no_email,
        reports_dir=args.reports_dir,
        warehouse=args.warehouse,
        progress=False if args.no_progress else None,
    )
    if not res.ok:
        print(f"error: {res.message}", file=sys.stderr)
    return res.exit_code


def cmd_schedule(args: argparse.Namespace) -> int:
    from .reporting.schedule import main as schedule_main

    return schedule_main(
        args.params or None,
        reports_dir=args.reports_dir,
        params_dir=args.params_dir,
        catch_up=not args.no_catch_up,
        list_only=args.list,
        warehouse=args.warehouse,
    )


def cmd_email(args: argparse.Namespace) -> int:
    """Send a finished run's e-mail again (exit 0 sent, 4 not sent, 2 bad input); the
    attempt is recorded in the run's manifest and index page."""
    from . import config
    from .reporting.email import build_run_message
    from .reporting.runner import EXIT_UNUSABLE, redeliver
    from .reporting.suite import SuiteError, check_recipients, check_subject

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"error: {run_dir}: no such run folder", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        to = check_recipients(args.to, "--to") if args.to else None
        params = config.load_parameters(args.params) if args.params else None
        subject = ((params or {}).get("email") or {}).get("subject")
        if subject:  # refused before anything is built or sent
            check_subject(subject)
    except (SuiteError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.save:
        msg = build_run_message(run_dir, params, recipients=to)
        Path(args.save).write_bytes(msg.as_bytes())
        print(f"wrote {args.save}: {msg['Subject']}")
        return 0
    res = redeliver(run_dir, params, recipients=to, say=print)
    if not res.ok:
        print(f"error: {res.message}", file=sys.stderr)
    return res.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zantara-nb", description="ZANTARA analytics: warehouse, metrics and reports."
    )
    parser.add_argument("--version", action="version", version=f"zantara-nb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="load event files into the warehouse")
    p.add_argument(
        "paths",
        nargs="+",
        help="files (.jsonl, .json, .csv, .parquet, .gz) or PostHog batch-export folders; "
        "`zantara-nb ingest posthog --help` pulls from a PostHog project",
    )
    p.add_argument(
        "--format",
        "-f",
        choices=[
            "segment",
            "posthog-jsonl",
            "posthog-csv",
            "posthog-parquet",
            "parquet",
            "csv",
        ],
        help="file format (default: detected)",
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="CANONICAL=SOURCE",
        help="column mapping for plain parquet/csv, e.g. --map event=action --map timestamp=ts",
    )
    _add_warehouse(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("status", help="row counts, date range, freshness, loads, quarantine")
    _add_warehouse(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("warehouse", help="warehouse administration (ddl)")
    wsub = p.add_subparsers(dest="warehouse_command", required=True)
    q = wsub.add_parser("ddl", help="print the CREATE statements of the warehouse tables")
    q.add_argument("--engine", choices=["duckdb", "clickhouse"], default="clickhouse")
    q.add_argument(
        "--cluster",
        metavar="NAME",
        help="ClickHouse cluster: replicated tables plus Distributed tables sharded by person",
    )
    q.add_argument("--database", default="zantara", help="ClickHouse database (default zantara)")
    q.set_defaults(func=cmd_warehouse_ddl)

    p = sub.add_parser("stitch", help="recompute person ids from identify/alias events")
    _add_warehouse(p)
    p.set_defaults(func=cmd_stitch)

    p = sub.add_parser("demo", help="generate seeded demo data and load it into a warehouse")
    p.add_argument("--mau", type=int, default=10_000, help="monthly active users (default 10000)")
    p.add_argument("--start", help="first day (YYYY-MM-DD, default: end - 182 days)")
    p.add_argument("--end", help="day after the last (YYYY-MM-DD, default: today)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-incidents", action="store_true", help="do not plant incidents")
    p.add_argument("--out", default="data/demo", help="folder for the generated files")
    p.add_argument("--format", default="parquet", choices=["parquet", "jsonl", "jsonl.gz"])
    p.add_argument("--force", action="store_true", help="replace a non-demo warehouse")
    _add_warehouse(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="execute a report suite's notebooks and render the report")
    p.add_argument("params", help="parameters file, e.g. parameters/weekly.yaml")
    p.add_argument(
        "--as-of",
        help="cut-off date YYYY-MM-DD (default: end of the last complete period before now)",
    )
    p.add_argument("--no-email", action="store_true", help="do not send the report e-mail")
    p.add_argument(
        "--only",
        action="append",
        metavar="NB",
        help="run only this notebook (repeatable); the others are kept from the last run",
    )
    p.add_argument("--reports-dir", help="reports folder (default: reports/ or reports_dir:)")
    p.add_argument("--no-progress", action="store_true", help="plain log lines, no progress bars")
    _add_warehouse(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("schedule", help="run report suites on their schedules (foreground)")
    p.add_argument(
        "params",
        nargs="*",
        help="parameters files (default: every parameters/*.yaml with a schedule section)",
    )
    p.add_argument("--params-dir", default="parameters", help="where to look for parameters files")
    p.add_argument("--reports-dir", help="reports folder (default: reports/ or reports_dir:)")
    p.add_argument("--no-catch-up", action="store_true", help="do not run a missed period on start")
    p.add_argument("--list", action="store_true", help="print the next run times and exit")
    _add_warehouse(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("email", help="(re-)send the e-mail of a finished run")
    p.add_argument("run_dir", help="run folder, e.g. reports/weekly/2026-11-23")
    p.add_argument("--params", help="parameters file (default: the parameters in manifest.json)")
    p.add_argument("--to", action="append", help="recipient (repeatable; default: email.to)")
    p.add_argument("--save", metavar="FILE.eml", help="write the message to a file, do not send")
    p.set_defaults(func=cmd_email)

    # added for gdpr (issue 15): gdpr export/delete/audit, retention apply/status
    from .gdpr.cli import add_parser as _add_gdpr
    from .retention_policy.cli import add_parser as _add_retention

    _add_gdpr(sub, _add_warehouse)
    _add_retention(sub, _add_warehouse)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:2] == ["ingest", "posthog"] and not Path("posthog").exists():
        from .ingest.posthog_pull import cli as posthog_cli

        return posthog_cli(args_list[2:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    from .config import SettingError
    from .warehouse.locking import WarehouseBusy

    try:
        return int(args.func(args) or 0)
    except SettingError as exc:  # a bad setting: one line naming it, never a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:  # others held the warehouse past the timeout
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
