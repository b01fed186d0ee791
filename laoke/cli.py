"""The `laoke` command: the jobs that are neither dbt's nor Dagster's own.

A user's mistake prints one line and exits 1; a traceback means a bug in laoke.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

# Multi-threaded BLAS makes the many small matrix steps of the prediction fits several times
# slower on a small machine; set before numpy loads (a user's own setting wins).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from laoke.errors import LaokeError  # noqa: E402
from laoke.settings import Paths  # noqa: E402


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
    print(f"demo store written to {out}")
    for name, rows in sorted(summary["files"].items()):
        print(f"  {name}: {rows:,} rows")


def cmd_build(args: argparse.Namespace) -> None:
    from laoke.build import build_warehouse

    paths = Paths.from_env()
    result = build_warehouse(paths.landing, paths.warehouse, as_of=args.as_of, full_refresh=args.full_refresh)
    for loaded in result.loaded:
        print(f"  {loaded.source_file}: {loaded.rows_in:,} rows in, {loaded.rows_loaded:,} loaded, "
              f"{loaded.rows_rejected:,} rejected at load ({loaded.encoding or loaded.file_format})")
    if result.predictions:
        print(f"  predictions: {result.predictions.get('status')} (model {result.predictions.get('model_used')})")
    print(f"warehouse built as of {result.as_of} in {result.warehouse}")


def cmd_evaluate_predictions(args: argparse.Namespace) -> None:
    from laoke.prediction_accuracy import run_prediction_evaluation

    paths = Paths.from_env()
    report = run_prediction_evaluation(paths.warehouse, args.calibration_end, paths.reports, args.holdout_end)
    print(report.markdown)
    print(f"\nwritten to {report.path} and main.prediction_accuracy_*")


def cmd_campaigns(args: argparse.Namespace) -> None:
    from laoke.campaigns import load_campaigns

    for campaign in load_campaigns().values():
        when = campaign.send_window.start if campaign.send_window else (campaign.send_date or "as_of + 1 day")
        print(f"{campaign.id:24} priority {campaign.priority:>3}  {campaign.purpose:11} {when}  {campaign.name}")


def cmd_send_lists(args: argparse.Namespace) -> None:
    from laoke.send_lists import export_campaigns

    paths = Paths.from_env()
    results = export_campaigns(args.campaigns or None, paths.warehouse, paths.exports, gbk=args.gbk)
    for result in results:
        counts = result.manifest["counts"]
        if result.refused:
            print(f"{result.campaign_id}: REFUSED, nothing written. {result.refused}")
            continue
        if result.skipped:
            print(f"{result.campaign_id}: {result.skipped} (audience {counts['audience']:,})")
            continue
        dropped = ", ".join(f"{rule} {n:,}" for rule, n in counts.items()
                            if rule not in ("audience", "holdout", "treatment") and n)
        print(f"{result.campaign_id}: {counts['treatment']:,} to send, {counts['holdout']:,} held out "
              f"(audience {counts['audience']:,}; dropped: {dropped or 'none'})")
        for warning in result.warnings:
            print(f"  warning: {warning}")
        print(f"  -> {result.files[0].parent}")
    refused = [r.campaign_id for r in results if r.refused]
    if refused:
        raise LaokeError(f"the quality gate refused {len(refused)} of {len(results)} lists: {', '.join(refused)}")


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
    build.add_argument("--full-refresh", action="store_true",
                       help="rebuild incremental tables from scratch (the lifecycle history keeps its earlier snapshots)")
    build.set_defaults(func=cmd_build)

    accuracy = sub.add_parser("evaluate-predictions", help="fit on history up to a date, predict the rest, compare with baselines")
    accuracy.add_argument("--calibration-end", type=_date, required=True)
    accuracy.add_argument("--holdout-end", type=_date, default=None, help="default: the warehouse's as_of")
    accuracy.set_defaults(func=cmd_evaluate_predictions)

    campaigns = sub.add_parser("campaigns", help="list and validate campaigns/*.yml")
    campaigns.set_defaults(func=cmd_campaigns)

    send_lists = sub.add_parser("send-lists", help="build, gate and export send lists (all campaigns by priority, or those named)")
    send_lists.add_argument("campaigns", nargs="*", help="campaign ids (default: every campaign, highest priority first)")
    send_lists.add_argument("--gbk", action="store_true", help="also write a GBK-encoded CSV")
    send_lists.set_defaults(func=cmd_send_lists)

    from laoke.results_cli import register as register_results

    register_results(sub)  # simulate, pull-results, evaluate, report

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
