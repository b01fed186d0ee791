"""The `laoke` command: the jobs that are neither dbt's nor Dagster's own.

A user's mistake prints one line and exits 1; a traceback means a bug in laoke.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from laoke.errors import LaokeError
from laoke.settings import Paths


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_generate(args: argparse.Namespace) -> None:
    from laoke.generate import generate_store

    out = Path(args.out) if args.out else Paths.from_env().landing
    summary = generate_store(out, customers=args.customers, seed=args.seed, fmt=args.format,
                             encoding=args.encoding, dirty=not args.clean)
    files = summary.get("files", summary)
    print(f"demo store written to {out}")
    for name, rows in sorted(files.items()) if isinstance(files, dict) else []:
        if isinstance(rows, int):
            print(f"  {name}: {rows:,} rows")


def cmd_build(args: argparse.Namespace) -> None:
    from laoke.build import build_warehouse

    paths = Paths.from_env()
    result = build_warehouse(paths.landing, paths.warehouse, as_of=args.as_of, full_refresh=args.full_refresh)
    for loaded in result.loaded:
        print(f"  {loaded.source_file}: {loaded.rows_in:,} rows in, {loaded.rows_loaded:,} loaded, "
              f"{loaded.rows_rejected:,} rejected at load ({loaded.encoding or loaded.file_format})")
    print(f"warehouse built as of {result.as_of} in {result.warehouse}")


def cmd_demo(args: argparse.Namespace) -> None:
    from laoke.demo import run_demo

    run_demo(Paths.from_env(), customers=args.customers, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="laoke", description="Returning-customer warehouse, send lists and evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)

    generate = sub.add_parser("generate", help="write a deterministic demo store into a landing folder")
    generate.add_argument("--customers", type=int, default=2000)
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--out", help="landing folder (default: $LAOKE_LANDING or data/landing)")
    generate.add_argument("--format", choices=["csv", "parquet"], default="csv")
    generate.add_argument("--encoding", choices=["utf-8", "gbk"], default="utf-8")
    generate.add_argument("--clean", action="store_true", help="no dirty rows")
    generate.set_defaults(func=cmd_generate)

    build = sub.add_parser("build", help="load the landing folder and build the warehouse as of a date")
    build.add_argument("--as-of", type=_date, default=None, help="reference date (default: latest order date)")
    build.add_argument("--full-refresh", action="store_true", help="rebuild incremental tables from scratch")
    build.set_defaults(func=cmd_build)

    demo = sub.add_parser("demo", help="generate the demo store, build everything, write send lists and the report")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LaokeError as exc:
        print(f"laoke: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("laoke: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
