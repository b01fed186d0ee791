"""The results half of the `laoke` command: simulate, pull-results, evaluate, report.

laoke.cli calls register(subparsers); each command calls one library function and prints what
it did. run_demo_results is the results step of `make demo`.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

from laoke.errors import LaokeError
from laoke.settings import Paths

DEMO_CAMPAIGN = "winback_coupon"
DEMO_UPLIFT = 0.01


def results_dir() -> Path:
    """Where platform files are read from and simulated ones written: $LAOKE_RESULTS, else <data>/results."""
    data = Path(os.environ.get("LAOKE_DATA", "data"))
    return Path(os.environ.get("LAOKE_RESULTS", data / "results")).resolve()


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _uplift(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not -1 < value < 1:
        raise argparse.ArgumentTypeError(
            f"{text}: the uplift is a change in conversion probability, e.g. 0.01 for +1.0 point")
    return value


def cmd_simulate(args: argparse.Namespace) -> None:
    paths = Paths.from_env()
    if args.compare_recent_buyer_exclusion:
        from laoke.simulate import recent_buyer_comparison

        table = recent_buyer_comparison(paths.warehouse, args.campaign, uplift=args.uplift, seed=args.seed)
        print(f"{args.campaign}: the same list with the recent-buyer exclusion off and on "
              f"({int(table['runs'].iloc[0])} simulated sends each, true uplift {args.uplift * 100:+.1f} points)")
        for row in table.itertuples(index=False):
            print(f"  exclude_recent_buyers_days={row.exclude_recent_buyers_days:<2}: {row.treated:>6,} sent "
                  f"({row.recent_buyers_sent:,} bought in the last 7 days), treated converted "
                  f"{row.treated_conversion_rate:.2%}, control {row.holdout_conversion_rate:.2%}, "
                  f"lift {row.lift * 100:+.2f} points; effect of the message on those sent "
                  f"{row.effect_on_treated * 100:+.2f} points")
        return
    from laoke.simulate import simulate_campaign

    out = Path(args.out) if args.out else results_dir()
    result = simulate_campaign(paths.warehouse, paths.landing, args.campaign, args.uplift, out,
                               send_date=args.send_date, seed=args.seed, rebuild=not args.no_rebuild)
    print(f"{result.campaign_id} sent {result.send_date}: simulated with a true uplift of "
          f"{result.uplift * 100:+.1f} points ({result.treated:,} treated, {result.holdout:,} held out)")
    print(f"  receipts: {result.receipts_file} ({result.counts['delivered']:,} delivered)")
    print(f"  replies:  {result.replies_file} ({result.counts['replies']:,} replies)")
    print(f"  orders:   {result.orders_added:,} appended to {result.orders_file}")
    if result.rebuilt:
        print(f"  warehouse rebuilt as of {result.as_of_after}")
    else:
        print(f"  next: laoke pull-results, then laoke build --as-of {result.as_of_after}, then laoke evaluate")


def cmd_pull_results(args: argparse.Namespace) -> None:
    from laoke.results import load_receipts, load_replies

    if not args.receipts and not args.replies:
        raise LaokeError("nothing to pull: give --receipts FILE --campaign ID and/or --replies FILE")
    if args.receipts and not args.campaign:
        raise LaokeError("--receipts needs --campaign (the campaign whose list the receipts are for)")
    paths = Paths.from_env()
    for path in args.receipts:
        result = load_receipts(paths.warehouse, Path(path), args.campaign, send_date=args.send_date)
        print(f"receipts {result.summary()} (list {result.campaign_id} {result.send_date})")
        for reject in result.rejects[:10]:
            print(f"  rejected row {reject.source_row}, field {reject.field}: {reject.reason} ({reject.value!r})")
    for path in args.replies:
        result = load_replies(paths.warehouse, Path(path), campaign_id=args.campaign)
        print(f"replies {result.summary()}; opt-outs apply to the next send list at once")
        for reject in result.rejects[:10]:
            print(f"  rejected row {reject.source_row}, field {reject.field}: {reject.reason} ({reject.value!r})")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from laoke.evaluation import OK, evaluate

    table = evaluate(Paths.from_env().warehouse)
    rows = table[table["segment"] == "all"]
    if args.campaigns:
        rows = rows[rows["campaign_id"].isin(args.campaigns)]
    if rows.empty:
        print("no exported lists to evaluate" + (f" for {', '.join(args.campaigns)}" if args.campaigns else ""))
    for r in rows.itertuples(index=False):
        head = f"{r.campaign_id} {r.send_date:%Y-%m-%d}: {r.treated:,} treated, {r.control:,} control"
        flag = "" if r.window_complete else " [attribution window not over yet]"
        if r.status == OK:
            print(f"{head}; converted {r.treated_rate:.2%} vs {r.control_rate:.2%}, lift {r.absolute_lift * 100:+.2f} "
                  f"points (95% CI {r.absolute_lift_ci_low * 100:+.2f} to {r.absolute_lift_ci_high * 100:+.2f}, "
                  f"p = {r.p_value:.3f}){flag}")
        else:
            print(f"{head}; {r.status}{flag}")


def cmd_report(args: argparse.Namespace) -> None:
    from laoke.report import write_report

    paths = Paths.from_env()
    out = Path(args.out) if args.out else paths.reports
    print(write_report(paths.warehouse, args.campaign, out, send_date=args.send_date))


def register(subparsers) -> None:
    """Adds simulate, pull-results, evaluate and report to the `laoke` command's subparsers."""
    simulate = subparsers.add_parser(
        "simulate", help="simulate receipts, replies and orders for an exported list with a known true uplift")
    simulate.add_argument("campaign", help="campaign id whose exported list to simulate")
    simulate.add_argument("--uplift", type=_uplift, default=DEMO_UPLIFT,
                          help="true uplift in conversion probability (0.01 = +1.0 point; default 0.01)")
    simulate.add_argument("--send-date", type=_date, default=None, help="which list (default: the latest)")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--out", help="folder for the receipts and replies CSVs (default $LAOKE_RESULTS or data/results)")
    simulate.add_argument("--no-rebuild", action="store_true",
                          help="do not rebuild the warehouse as of the end of the attribution window")
    simulate.add_argument("--compare-recent-buyer-exclusion", action="store_true",
                          help="seed 001: simulate the campaign with the recent-buyer exclusion off and on (writes nothing)")
    simulate.set_defaults(func=cmd_simulate)

    pull = subparsers.add_parser("pull-results", help="load delivery receipts and SMS replies from the platform's CSV files")
    pull.add_argument("--receipts", action="append", default=[], metavar="FILE",
                      help="receipts CSV (phone, status, time); repeatable; needs --campaign")
    pull.add_argument("--replies", action="append", default=[], metavar="FILE",
                      help="replies CSV (phone, text, time); repeatable; opt-outs apply at once")
    pull.add_argument("--campaign", help="the campaign the receipts (and, if given, the replies) belong to")
    pull.add_argument("--send-date", type=_date, default=None, help="which list of the campaign (default: the latest)")
    pull.set_defaults(func=cmd_pull_results)

    evaluate = subparsers.add_parser("evaluate", help="build the evaluation marts and the lift with confidence intervals")
    evaluate.add_argument("campaigns", nargs="*", help="campaign ids to print (all are evaluated)")
    evaluate.set_defaults(func=cmd_evaluate)

    report = subparsers.add_parser("report", help="write the HTML report of a campaign (data/reports/<campaign>.html)")
    report.add_argument("campaign")
    report.add_argument("--send-date", type=_date, default=None, help="which list (default: the latest)")
    report.add_argument("--out", help="folder (default $LAOKE_REPORTS or data/reports)")
    report.set_defaults(func=cmd_report)


def run_demo_results(paths: Paths, campaign_id: str = DEMO_CAMPAIGN, uplift: float = DEMO_UPLIFT, seed: int = 7,
                     out_dir: Path | None = None, step: int = 4) -> Path:
    """`make demo`'s results step, after the send lists are exported: simulate what the campaign's
    list brings back (true uplift +1.0 point), pull the receipts and replies, rebuild as of the end
    of the attribution window, compute the lift and write the report. Returns the report path."""
    import pandas as pd

    from laoke.build import build_warehouse
    from laoke.evaluation import OK, compute_lift
    from laoke.report import write_report
    from laoke.results import load_receipts, load_replies
    from laoke.simulate import simulate_campaign

    out_dir = out_dir or results_dir()
    sim = simulate_campaign(paths.warehouse, paths.landing, campaign_id, uplift, out_dir, seed=seed, rebuild=False)
    print(f"{step}. results of {campaign_id} simulated (true uplift {uplift * 100:+.1f} points): "
          f"{sim.counts['delivered']:,} delivered, {sim.counts['replies']:,} replies, {sim.orders_added:,} orders "
          f"in the {(sim.as_of_after - sim.send_date).days}-day window appended to {sim.orders_file.name}")
    receipts = load_receipts(paths.warehouse, sim.receipts_file, campaign_id, send_date=sim.send_date)
    replies = load_replies(paths.warehouse, sim.replies_file)
    print(f"   pulled back: {receipts.summary()}; {replies.summary()}")
    build_warehouse(paths.landing, paths.warehouse, as_of=sim.as_of_after, load_date=sim.as_of_after)
    lift = compute_lift(paths.warehouse)
    same_list = pd.to_datetime(lift["send_date"]).dt.date == sim.send_date
    row = lift[(lift["campaign_id"] == campaign_id) & same_list & (lift["segment"] == "all")]
    if len(row) and row.iloc[0]["status"] == OK:
        r = row.iloc[0]
        print(f"   warehouse rebuilt as of {sim.as_of_after}; lift {r['absolute_lift'] * 100:+.2f} points "
              f"(95% CI {r['absolute_lift_ci_low'] * 100:+.2f} to {r['absolute_lift_ci_high'] * 100:+.2f}, "
              f"p = {r['p_value']:.3f}) in main.campaign_lift")
    report = write_report(paths.warehouse, campaign_id, paths.reports, send_date=sim.send_date)
    print(f"{step + 1}. report: {report}")
    return report
