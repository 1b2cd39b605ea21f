"""The ``zantara-nb`` command line: ingest, status, demo, stitch (and more as they land)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__


def _add_warehouse(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse",
        "-w",
        help="DuckDB warehouse file (default: $ZANTARA_WAREHOUSE or data/zantara.duckdb)",
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
    from .warehouse import Warehouse

    with Warehouse(args.warehouse) as wh:
        failed = 0
        for path in args.paths:
            try:
                summaries = ingest(wh, [path], format=args.format, mapping=_parse_mapping(args.map))
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
    from .warehouse import Warehouse

    path = config.warehouse_path(args.warehouse)
    if not path.exists():
        print(
            f"error: {path}: no warehouse here (run `zantara-nb demo` or `zantara-nb ingest`)",
            file=sys.stderr,
        )
        return 2
    with Warehouse(path, read_only=True) as wh:
        print(wh.status())
    return 0


def cmd_stitch(args: argparse.Namespace) -> int:
    from .identity import stitch
    from .warehouse import Warehouse

    with Warehouse(args.warehouse) as wh:
        print(stitch(wh))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import config
    from .demo import DemoConfig, load_demo
    from .warehouse import Warehouse

    path = config.warehouse_path(args.warehouse)
    if path.exists() and not args.force:
        with Warehouse(path, read_only=True) as wh:
            foreign = wh.scalar(
                "SELECT count(*) FROM loads WHERE NOT contains(path, ?)", [str(Path(args.out))]
            )
        if foreign:
            print(
                f"error: {path} holds data loaded from files outside {args.out}; "
                "refusing to replace it with demo data (use --warehouse or --force)",
                file=sys.stderr,
            )
            return 2
    if path.exists():
        path.unlink()
        Path(str(path) + ".wal").unlink(missing_ok=True)
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
    with Warehouse(path) as wh:
        result = load_demo(wh, cfg)
        print(result)
        print()
        print(wh.status())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zantara-nb", description="ZANTARA analytics: warehouse, metrics and reports."
    )
    parser.add_argument("--version", action="version", version=f"zantara-nb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="load event files into the warehouse")
    p.add_argument("paths", nargs="+", help="files to load (.jsonl, .json, .csv, .parquet, .gz)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
