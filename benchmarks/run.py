"""Benchmarks at 1M / 10M / 100M order lines: `python benchmarks/run.py SIZE [options]`.

SIZE is 1m, 10m or 100m order lines (or any number with k/m: 250k). The store is made by laoke's
own generator (about 4.9 order lines per customer, so 10m is about 2.04M customers), once, into
benchmarks/data/<size>-<format>/landing (gitignored), and reused by later runs. 1m and 10m are
CSV by default (the landing format stores send), 100m is Parquet (written in chunks).

Phases, each in a process of its own (so each has its own peak RSS), in this order:

  generate             laoke.generate.generate_store (skipped when the store is cached)
  load                 landing -> raw, into a new warehouse (laoke.build.load)
  floor                reference: a bare DuckDB GROUP BY customer_id over raw.orders (typed), and
                       the same over raw.order_lines joined to raw.orders (each the best of 3)
  full build           `dbt build --full-refresh` (laoke.build.transform, full_refresh=True);
                       per-model timings from dbt's run_results.json
  btyd                 laoke's BTYD summary alone (customer_rfm's SQL up to the summary, run again on
                       DuckDB outside dbt) from the orders (the purchase days and their summary
                       inline), over the purchase days a daily build keeps (the summary inline) and
                       over the per-customer summary it keeps, and lifetimes'
                       summary_data_from_transaction_data on the same orders (each the best of 3
                       up to 10M lines); the numbers of a random sample of customers are compared
  predictions          BG/NBD + Gamma-Gamma fit and scoring of (at most) 1,000,000 customers of
                       customer_rfm, laoke (numpy/scipy) vs lifetimes' fitters (issue 8's targets:
                       <= 10 s, >= 10x faster, parameters within 0.1%); see benchmarks/predictions.py
  day                  one new day of orders (+ lines) written as orders_YYYYMMDD / order_lines_
                       files beside the store (removed at the end)
  incremental load     only the new files are read
  incremental build    `dbt build` without --full-refresh, as of the new day
  send list            laoke.send_lists.build_send_list on a campaign built in code whose audience
                       is everyone with a sendable phone, at most 1,000,000 customers
  evaluation           export one shipped campaign (birthday_week) and laoke.evaluation.evaluate

Before each phase the pages earlier phases left dirty in the OS cache are written out (os.sync,
its time in the JSON as sync_seconds_before), so no phase pays for another's write-back.

Peak RSS: "max RSS" is the largest single process of the phase (getrusage of the phase process
and its waited-for children, e.g. dbt); "tree RSS" is the peak of the sum over the phase's live
process tree, sampled every 0.2 s from /proc.

DuckDB settings come from LAOKE_DUCKDB_THREADS / LAOKE_DUCKDB_MEMORY_LIMIT /
LAOKE_DUCKDB_TEMP_DIRECTORY (laoke/warehouse.py and dbt_project/profiles.yml read the same
variables); unset, this script uses all cores, 10GB and benchmarks/data/tmp.

Results: one table on stdout, and benchmarks/data/results-<size>.json with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data"
END = date(2026, 10, 31)  # generate_store's default end date: the full build is as of it
LINES_PER_CUSTOMER = 4.9
SEED = 20240607
SEND_LIST_CUSTOMERS = 1_000_000
SEND_SLOT_MAX_MESSAGES = 5_000
EVALUATED_CAMPAIGN = "birthday_week"
LIFETIMES_SAMPLE = 2000
# Both sides of the BTYD ratio are timed as the best of this many runs (one run above 10M lines:
# lifetimes alone takes minutes there).
BTYD_REPEATS = 3
BTYD_REPEATS_UP_TO = 10_000_000
FLOOR_REPEATS = 3
PREDICTION_CUSTOMERS = 1_000_000


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


# --- the orchestrator ----------------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Peak of the summed RSS of a process and its descendants, from /proc."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._halt = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def _tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{entry}/statm") as f:
                    resident = int(f.read().split()[1]) * self.page
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
            rss[int(entry)] = resident
        total, stack = 0, [self.pid]
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack += children.get(pid, [])
        return total


def run_phase(name: str, config: dict) -> dict:
    """Runs one phase in a child process; returns its result with seconds and RSS."""
    out = Path(config["work"]) / f"phase-{name.replace(' ', '_')}.json"
    out.unlink(missing_ok=True)
    args = [sys.executable, __file__, "--phase", name, "--config", str(Path(config["work"]) / "config.json")]
    # Write out the pages earlier phases left dirty in the OS cache first (a 100M full build
    # leaves GiBs): otherwise this phase's reads queue behind that write-back, which a daily build
    # run a day after the last one never meets (RESULTS.md, session 10: 10.3 s against 2.8 s for
    # one statement of the 100M daily build).
    synced = time.perf_counter()
    os.sync()
    sync_seconds = round(time.perf_counter() - synced, 2)
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=config["env"])
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    sampler.stop()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update(phase=name, wall_seconds=round(wall, 2), max_rss_bytes=usage.ru_maxrss * 1024,
                  tree_rss_bytes=sampler.peak, exit_code=proc.returncode, sync_seconds_before=sync_seconds)
    result.setdefault("seconds", round(wall, 2))
    if proc.returncode != 0:
        result["error"] = result.get("error") or f"exit code {proc.returncode}"
    return result


def gib(n: int | None) -> str:
    return "" if not n else f"{n / 2**30:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", help="order lines: 1m, 10m, 100m (or e.g. 250k)")
    parser.add_argument("--format", choices=["csv", "parquet"], help="landing format (default: csv up to 10m, parquet above)")
    parser.add_argument("--regenerate", action="store_true", help="generate the store again even if cached")
    parser.add_argument("--skip", default="", help="comma-separated phases to skip (e.g. 'lifetimes,evaluation')")
    parser.add_argument("--keep-warehouse", action="store_true", help="keep the warehouse file after the run")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="folder for the generated stores, warehouses and results (default: benchmarks/data)")
    parser.add_argument("--only", default="", help="comma-separated phases to run again on the kept warehouse "
                        "of an earlier run (with --keep-warehouse), e.g. 'send list,evaluation'")
    args = parser.parse_args(argv)

    lines = parse_size(args.size)
    fmt = args.format or ("csv" if lines <= 10_000_000 else "parquet")
    label = args.size.lower()
    customers = round(lines / LINES_PER_CUSTOMER)
    data = args.data.resolve()
    store = data / f"{label}-{fmt}"
    work = data / f"run-{label}-{fmt}"
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if only:
        args.keep_warehouse = True
        if not (work / "warehouse.duckdb").exists():
            parser.error(f"--only needs the warehouse of an earlier run with --keep-warehouse in {work}")
    else:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
    tmp = Path(os.environ.get("LAOKE_DUCKDB_TEMP_DIRECTORY") or data / "tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("LAOKE_DUCKDB_THREADS", str(os.cpu_count() or 2))
    env.setdefault("LAOKE_DUCKDB_MEMORY_LIMIT", "10GB")
    env.setdefault("LAOKE_DUCKDB_TEMP_DIRECTORY", str(tmp))
    env.setdefault("LAOKE_DBT_THREADS", "1")  # profiles.yml's default
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the laoke CLI sets it (measured faster for these fits)
    env["LAOKE_DATA"] = str(work / "laoke_data")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    config = {
        "size": label, "lines": lines, "customers": customers, "format": fmt, "store": str(store),
        "landing": str(store / "landing"), "warehouse": str(work / "warehouse.duckdb"), "work": str(work),
        "regenerate": args.regenerate, "dbt_threads": env["LAOKE_DBT_THREADS"], "env": env,
    }
    (work / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "env"}, indent=2))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    print(f"laoke benchmark: {lines:,} order lines target, {customers:,} customers, {fmt}, "
          f"dbt threads={env['LAOKE_DBT_THREADS']} DuckDB threads={env['LAOKE_DUCKDB_THREADS']} memory_limit={env['LAOKE_DUCKDB_MEMORY_LIMIT']} "
          f"temp_directory={env['LAOKE_DUCKDB_TEMP_DIRECTORY']}", flush=True)
    results: list[dict] = []
    phases = ["generate", "load", "floor", "full build", "btyd", "predictions", "day", "incremental load", "incremental build",
              "send list", "evaluation"]
    if only:
        unknown = [p for p in only if p not in phases]
        if unknown:
            parser.error(f"unknown phases {unknown}; phases: {', '.join(phases)}")
        phases = [p for p in phases if p in only]
    try:
        for phase in phases:
            if phase in skip or phase.split()[0] in skip:
                results.append({"phase": phase, "skipped": "--skip"})
                continue
            result = run_phase(phase, config)
            results.append(result)
            print(f"  {phase:<18} {result.get('seconds', ''):>9}s  max RSS {gib(result.get('max_rss_bytes')):>6} GiB  "
                  f"tree RSS {gib(result.get('tree_rss_bytes')):>6} GiB  {result.get('note', '')}"
                  f"{' ERROR: ' + result['error'] if result.get('error') else ''}", flush=True)
            if result.get("error") and phase in ("generate", "load", "full build"):
                break
    finally:
        if not only or "day" in only:
            _remove_day_files(Path(config["landing"]))
        if not args.keep_warehouse:
            for leftover in work.glob("warehouse.duckdb*"):
                leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
    summary = summarise(results, config)
    out = data / f"results-{label}-{fmt}{'-only' if only else ''}.json"
    out.write_text(json.dumps({"config": {k: v for k, v in config.items() if k != "env"},
                               "settings": {k: env[k] for k in ("LAOKE_DUCKDB_THREADS", "LAOKE_DUCKDB_MEMORY_LIMIT", "LAOKE_DUCKDB_TEMP_DIRECTORY")},
                               "machine": machine(), "phases": results, "summary": summary}, indent=2, default=str))
    print()
    print(render(results, summary, config))
    print(f"\nresults: {out}")
    return 0 if not any(r.get("error") for r in results) else 1


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import duckdb

    return {"nproc": os.cpu_count(), "memory_gib": round(memory / 2**30, 1), "cpu": model,
            "python": sys.version.split()[0], "duckdb": duckdb.__version__}


def summarise(results: list[dict], config: dict) -> dict:
    by = {r["phase"]: r for r in results}
    get = lambda phase, key="seconds": by.get(phase, {}).get(key)  # noqa: E731
    summary: dict = {}
    floor = get("floor", "orders_seconds")
    full = get("full build")
    if floor and full:
        summary["full_build_over_floor"] = round(full / floor, 1)
        summary["full_build_over_lines_floor"] = round(full / get("floor", "lines_seconds"), 1)
    btyd, lifetimes = get("btyd", "laoke_seconds"), get("btyd", "lifetimes_seconds")
    if btyd and lifetimes:
        summary["lifetimes_over_laoke_btyd"] = round(lifetimes / btyd, 1)
        summary["lifetimes_over_laoke_btyd_daily"] = get("btyd", "lifetimes_over_daily_summary")
    fit, lifetimes_fit = get("predictions"), get("predictions", "lifetimes_seconds")
    if fit and lifetimes_fit:
        summary["lifetimes_over_laoke_predictions"] = round(lifetimes_fit / fit, 1)
    incremental = (get("incremental load") or 0) + (get("incremental build") or 0)
    if incremental and full:
        summary["incremental_over_full_build"] = round(incremental / ((get("load") or 0) + full), 3)
        summary["incremental_build_over_full_build"] = round((get("incremental build") or 0) / full, 3)
    return summary


def render(results: list[dict], summary: dict, config: dict) -> str:
    rows = ["| phase | seconds | max RSS (GiB) | tree RSS (GiB) | notes |", "|---|---:|---:|---:|---|"]
    for r in results:
        if r.get("skipped"):
            rows.append(f"| {r['phase']} | | | | skipped ({r['skipped']}) |")
            continue
        note = r.get("note", "") + (f" ERROR: {r['error']}" if r.get("error") else "")
        rows.append(f"| {r['phase']} | {r.get('seconds', '')} | {gib(r.get('max_rss_bytes'))} | "
                    f"{gib(r.get('tree_rss_bytes'))} | {note} |")
    lines = ["\n".join(rows), ""]
    for key, value in summary.items():
        lines.append(f"- {key.replace('_', ' ')}: {value}")
    profile = next((r.get("profile") for r in results if r["phase"] == "full build" and r.get("profile")), None)
    if profile:
        lines += ["", f"Slowest dbt nodes of the full build (execution seconds, {config.get('dbt_threads', '?')} dbt thread(s) share DuckDB):", ""]
        lines += [f"- {p['node']}: {p['seconds']}" for p in profile[:15]]
    profile = next((r.get("profile") for r in results if r["phase"] == "incremental build" and r.get("profile")), None)
    if profile:
        lines += ["", "Slowest dbt nodes of the incremental build:", ""]
        lines += [f"- {p['node']}: {p['seconds']}" for p in profile[:10]]
    return "\n".join(lines)


# --- the phases (each in its own process) -------------------------------------------------------


def phase_main(name: str, config_path: Path) -> int:
    config = json.loads(config_path.read_text())
    out = Path(config["work"]) / f"phase-{name.replace(' ', '_')}.json"
    result: dict = {}
    try:
        result = PHASES[name](config) or {}
    except Exception as exc:  # noqa: BLE001 - reported in the table
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    out.write_text(json.dumps(result, default=str))
    return 1 if result.get("error") else 0


def timed(fn, *args, **kwargs):
    """(value, seconds to four decimals: small stores take milliseconds, and ratios divide by them)."""
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, round(time.perf_counter() - started, 4)


def p_generate(config: dict) -> dict:
    from laoke.generate import generate_store

    store, landing = Path(config["store"]), Path(config["landing"])
    marker = store / "summary.json"
    if marker.exists() and not config["regenerate"]:
        summary = json.loads(marker.read_text())
        return {"seconds": summary.get("seconds"), "note": f"cached store ({summary['note']}); "
                f"time of its generation", "cached": True, **{k: summary[k] for k in ("files",)}}
    if landing.exists():
        shutil.rmtree(landing)
    summary, seconds = timed(generate_store, landing, customers=config["customers"], seed=SEED, fmt=config["format"],
                             end_date=END, chunk_customers=100_000)
    files = summary["files"]
    note = (f"{files.get('order_lines.' + config['format'], 0):,} order lines, "
            f"{files.get('orders.' + config['format'], 0):,} orders, {config['customers']:,} customers")
    marker.write_text(json.dumps({"seconds": seconds, "files": files, "note": note}))
    return {"seconds": seconds, "note": note, "files": files}


def p_load(config: dict) -> dict:
    from laoke.build import load

    warehouse = Path(config["warehouse"])
    for old in warehouse.parent.glob(warehouse.name + "*"):
        old.unlink() if old.is_file() else shutil.rmtree(old)
    loaded, seconds = timed(load, Path(config["landing"]), warehouse)
    readers = sorted({f"{a.source_file}: {a.reader}" for a in loaded})
    rows = sum(a.rows_in for a in loaded)
    return {"seconds": seconds, "note": f"{rows:,} rows from {len(loaded)} files ({', '.join(readers)})",
            "rows": rows, "readers": readers}


def _connect(config: dict, read_only: bool = False):
    from laoke.warehouse import connect

    return connect(Path(config["warehouse"]), read_only=read_only)


def p_floor(config: dict) -> dict:
    orders_sql = """
        select count(*), sum(n), sum(spend), min(first_at), max(last_at) from (
            select customer_id, count(*) as n, sum(try_cast(amount as decimal(18, 2))) as spend,
                   min(try_cast(ordered_at as timestamp)) as first_at, max(try_cast(ordered_at as timestamp)) as last_at
            from raw.orders group by customer_id)
    """
    lines_sql = """
        select count(*), sum(n), sum(spend), min(first_at), max(last_at) from (
            select o.customer_id, count(*) as n, sum(try_cast(l.amount as decimal(18, 2))) as spend,
                   min(try_cast(o.ordered_at as timestamp)) as first_at, max(try_cast(o.ordered_at as timestamp)) as last_at
            from raw.order_lines as l inner join raw.orders as o on o.order_id = l.order_id
            group by o.customer_id)
    """
    with _connect(config, read_only=True) as con:
        con.execute(orders_sql).fetchall()  # warm the cache: the build reads a warm file too
        # the best of 3: a single sub-second run moved the ratios by 10-20% between runs
        orders_seconds = best_of(FLOOR_REPEATS, lambda: con.execute(orders_sql).fetchall())
        lines_seconds = best_of(FLOOR_REPEATS, lambda: con.execute(lines_sql).fetchall())
        counts = con.execute("select (select count(*) from raw.orders), (select count(*) from raw.order_lines)").fetchone()
    return {"seconds": orders_seconds, "orders_seconds": orders_seconds, "lines_seconds": lines_seconds,
            "note": f"GROUP BY customer_id: {orders_seconds}s over {counts[0]:,} orders; "
                    f"{lines_seconds}s over {counts[1]:,} order lines joined to orders"}


def _profile(warehouse: Path) -> list[dict]:
    results = json.loads((warehouse.parent / f".{warehouse.stem}_dbt" / "run_results.json").read_text())
    nodes = [{"node": r["unique_id"].split(".", 2)[-1], "seconds": round(r["execution_time"], 2), "status": r["status"]}
             for r in results["results"]]
    return sorted(nodes, key=lambda n: -n["seconds"])


def _state(config: dict) -> list:
    with _connect(config, read_only=True) as con:
        return [list(map(str, row)) for row in con.execute(
            "select model, seen_stamp, seen_load_id, detail from intermediate.incremental_state order by model").fetchall()]


def p_full_build(config: dict) -> dict:
    from laoke.build import transform

    warehouse = Path(config["warehouse"])
    as_of, seconds = timed(transform, warehouse, as_of=END, load_date=END, full_refresh=True)
    results = json.loads((warehouse.parent / f".{warehouse.stem}_dbt" / "run_results.json").read_text())
    size = warehouse.stat().st_size
    return {"seconds": seconds, "dbt_elapsed": round(results.get("elapsed_time", 0), 2), "profile": _profile(warehouse),
            "warehouse_bytes": size,
            "note": f"as of {as_of}; dbt elapsed {results.get('elapsed_time', 0):.1f}s, "
                    f"{len(results['results'])} nodes; warehouse file {size / 2**30:.1f} GiB"}


def best_of(repeats: int, fn, *args) -> float:
    """The fastest of `repeats` runs (seconds to four decimals): both sides of a ratio get the same."""
    return min(timed(fn, *args)[1] for _ in range(repeats))


def p_btyd(config: dict) -> dict:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    warehouse = Path(config["warehouse"])
    compiled = warehouse.parent / f".{warehouse.stem}_dbt" / "compiled" / "laoke" / "models"
    purchase_days_sql = (compiled / "intermediate" / "int_customer_purchase_days.sql").read_text()
    purchase_summary_sql = (compiled / "intermediate" / "int_customer_purchase_summary.sql").read_text()
    rfm_sql = (compiled / "marts" / "customer_rfm.sql").read_text()

    def inline(sql: str, model: str, model_sql: str) -> str:
        """`sql` with its read of `model` (`select * from <relation>`) replaced by model_sql."""
        read = re.search(rf"select \* from \S*{model}\S*", sql)
        if not read:
            raise RuntimeError(f"compiled SQL changed shape: no `select * from ...{model}`; update p_btyd")
        return sql.replace(read.group(0), f"select * from (\n{model_sql}\n) as {model}_inline", 1)

    # The BTYD summary alone (what lifetimes computes): customer_rfm up to its btyd CTE, without
    # the R/F/M quintile scores and segments, over the per-customer summary of the purchase days.
    if "scored as (" not in rfm_sql:
        raise RuntimeError("customer_rfm's compiled SQL changed shape: the btyd phase needs its `scored as (` CTE")
    btyd_sql = rfm_sql[:rfm_sql.index("scored as (")].rstrip().rstrip(",") + "\nselect * from btyd"
    # Over the purchase days a daily build keeps (the per-customer summary computed inline).
    summary_sql = inline(btyd_sql, "int_customer_purchase_summary", purchase_summary_sql)
    # From the orders: the purchase days computed inline too (what a first build, or a store
    # without history, pays).
    from_orders_sql = inline(summary_sql, "int_customer_purchase_days", purchase_days_sql)
    repeats = BTYD_REPEATS if config["lines"] <= BTYD_REPEATS_UP_TO else 1

    def create(sql: str) -> None:
        con.execute(f"create or replace temp table bench_btyd as {sql}")
        con.execute("drop table bench_btyd")

    with _connect(config) as con:
        create(from_orders_sql)  # warm the caches once, as lifetimes' frame is already in memory
        from_orders_seconds = best_of(repeats, create, from_orders_sql)
        summary_seconds = best_of(repeats, create, summary_sql)
        days_seconds = best_of(repeats, create, purchase_days_sql)
        # over the kept per-customer summary (a daily build recomputes it for changed customers only)
        kept_summary_seconds = best_of(repeats, create, btyd_sql)
        rfm_seconds = best_of(1, create, rfm_sql)
        # Arrow, with customer ids dictionary-encoded: pandas gets a category column, not one
        # Python string per order (tens of millions at 100m).
        orders = con.sql(
            "select customer_id, ordered_at, cast(net_amount as double) as net_amount from main.orders where is_purchase"
        ).to_arrow_table()
        as_of = con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]
    orders = orders.set_column(0, "customer_id", pc.dictionary_encode(orders.column("customer_id")))
    orders = orders.to_pandas()
    result = {"laoke_seconds": from_orders_seconds, "from_orders_seconds": from_orders_seconds,
              "purchase_days_seconds": days_seconds, "btyd_summary_seconds": summary_seconds,
              "over_kept_summary_seconds": kept_summary_seconds,
              "rfm_seconds": rfm_seconds, "repeats": repeats, "orders": len(orders)}
    try:
        from lifetimes.utils import summary_data_from_transaction_data
    except ImportError:
        result.update(seconds=from_orders_seconds, note="lifetimes not installed: no reference")
        return result
    def lifetimes_summary():
        return summary_data_from_transaction_data(
            orders, "customer_id", "ordered_at", monetary_value_col="net_amount",
            observation_period_end=pd.Timestamp(as_of), freq="D")

    expected, lifetimes_seconds = timed(lifetimes_summary)
    if repeats > 1:
        lifetimes_seconds = min(lifetimes_seconds, best_of(repeats - 1, lifetimes_summary))
    del orders
    expected = expected.reset_index()
    expected["customer_id"] = expected["customer_id"].astype(str)
    expected_table = pa.Table.from_pandas(expected[["customer_id", "frequency", "recency", "T", "monetary_value"]],
                                          preserve_index=False)
    del expected
    with _connect(config, read_only=True) as con:
        con.register("expected", expected_table)
        only_one_side = con.execute("""
            select count(*) from main.customer_rfm as r full outer join expected as e on e.customer_id = r.customer_id
            where r.customer_id is null or e.customer_id is null
        """).fetchone()[0]
        sample = con.execute(f"""
            select r.frequency, e.frequency, r.recency, e.recency, r.t, e."T", r.monetary_value, e.monetary_value
            from main.customer_rfm as r inner join expected as e on e.customer_id = r.customer_id
            using sample reservoir({LIFETIMES_SAMPLE} rows) repeatable (7)
        """).fetchall()
    got = np.array([row[0::2] for row in sample], dtype=float)
    want = np.array([row[1::2] for row in sample], dtype=float)
    same = bool(len(sample) and np.array_equal(got[:, :3], want[:, :3])
                and np.allclose(got[:, 3], want[:, 3], rtol=1e-9, atol=0))
    customers_equal = only_one_side == 0
    result.update(
        seconds=from_orders_seconds, lifetimes_seconds=lifetimes_seconds, sample=len(sample), identical=same,
        same_customers=customers_equal,
        lifetimes_over_daily_summary=round(lifetimes_seconds / max(summary_seconds, 1e-9), 1),
        note=(f"from the orders: laoke {from_orders_seconds}s vs lifetimes {lifetimes_seconds}s on "
              f"{result['orders']:,} purchase orders: {lifetimes_seconds / max(from_orders_seconds, 1e-9):.1f}x; "
              f"daily (summary over the kept purchase days) {summary_seconds}s: "
              f"{lifetimes_seconds / max(summary_seconds, 1e-9):.1f}x; over the kept per-customer summary "
              f"{kept_summary_seconds}s; purchase days alone {days_seconds}s, whole "
              f"customer_rfm with RFM scores {rfm_seconds}s; best of {repeats}; {len(sample):,} sampled customers "
              f"{'identical' if same else 'DIFFERENT'}, customer sets "
              f"{'equal' if customers_equal else f'DIFFERENT ({only_one_side:,} on one side only)'}"),
    )
    if not same or not customers_equal:
        result["error"] = "BTYD numbers differ from lifetimes"
    return result


def p_predictions(config: dict) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from predictions import load_rfm, run_laoke, run_lifetimes

    rfm = load_rfm(Path(config["warehouse"]), PREDICTION_CUSTOMERS, seed=7)
    laoke_seconds, laoke_params = run_laoke(rfm)
    result = {"seconds": round(laoke_seconds, 4), "customers": len(rfm), "laoke_params": laoke_params}
    try:
        lifetimes_seconds, lifetimes_params = run_lifetimes(rfm)
    except ImportError:
        result["note"] = f"laoke fit + score of {len(rfm):,} customers; lifetimes not installed: no reference"
        return result
    worst = max(abs(laoke_params[k] / lifetimes_params[k] - 1) for k in lifetimes_params)
    result.update(lifetimes_seconds=round(lifetimes_seconds, 2), lifetimes_params=lifetimes_params,
                  largest_parameter_difference=worst,
                  note=(f"BG/NBD + Gamma-Gamma fit and score of {len(rfm):,} customers: laoke {laoke_seconds:.2f}s vs "
                        f"lifetimes {lifetimes_seconds:.2f}s: {lifetimes_seconds / max(laoke_seconds, 1e-9):.1f}x; "
                        f"largest parameter difference {worst:.4%}"))
    if worst > 0.001:
        result["error"] = "fitted parameters differ from lifetimes' by more than 0.1%"
    return result


def _day_files(landing: Path, fmt: str) -> tuple[Path, Path]:
    day = END + timedelta(days=1)
    return landing / f"orders_{day:%Y%m%d}.{fmt}", landing / f"order_lines_{day:%Y%m%d}.{fmt}"


def _remove_day_files(landing: Path) -> None:
    for fmt in ("csv", "parquet"):
        for path in _day_files(landing, fmt):
            path.unlink(missing_ok=True)


def p_day(config: dict) -> dict:
    """One more day: the orders of the last day again, a day later, under new order ids, with
    their lines (new and existing customers alike)."""
    import duckdb

    landing, fmt = Path(config["landing"]), config["format"]
    orders_file, lines_file = _day_files(landing, fmt)
    day = END + timedelta(days=1)

    def scan(name: str) -> str:
        path = landing / f"{name}.{fmt}"
        return (f"read_parquet('{path}')" if fmt == "parquet"
                else f"read_csv('{path}', all_varchar = true, header = true, quote = '\"')")

    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"""
            create table day_orders as
            select * replace ('N' || order_id as order_id, '{day}' || substr(ordered_at, 11) as ordered_at)
            from {scan('orders')} where starts_with(ordered_at, '{END}') and order_id is not null
        """)
        con.execute(f"""
            create table day_lines as
            select l.* replace ('N' || l.order_id as order_id)
            from {scan('order_lines')} as l
            where l.order_id in (select substr(order_id, 2) from day_orders)
        """)
        for table, path in (("day_orders", orders_file), ("day_lines", lines_file)):
            options = "(format parquet)" if fmt == "parquet" else "(header true, quote '')"
            con.execute(f"copy {table} to '{path}' {options}")
        orders, lines = con.execute("select (select count(*) from day_orders), (select count(*) from day_lines)").fetchone()
    return {"seconds": round(time.perf_counter() - started, 2), "orders": orders, "lines": lines,
            "note": f"{orders:,} orders and {lines:,} order lines on {day}"}


def p_incremental_load(config: dict) -> dict:
    from laoke.build import load

    loaded, seconds = timed(load, Path(config["landing"]), Path(config["warehouse"]))
    newest = max(a.load_id for a in loaded)
    fresh = [a for a in loaded if a.load_id == newest]
    return {"seconds": seconds, "note": "read: " + ", ".join(f"{a.source_file} ({a.rows_in:,} rows, {a.reader})" for a in fresh)}


def p_incremental_build(config: dict) -> dict:
    from laoke.build import transform

    warehouse = Path(config["warehouse"])
    day = END + timedelta(days=1)
    as_of, seconds = timed(transform, warehouse, as_of=day, load_date=day)
    with _connect(config, read_only=True) as con:
        decided = con.execute(
            "select count(*) filter (where _built = (select max(_built) from intermediate.int_orders_checked)), count(*) "
            "from intermediate.int_orders_checked").fetchone()
        resolved = con.execute(
            "select count(*) filter (where _built = (select max(_built) from intermediate.int_orders_resolved)), "
            "bool_or(_full_build and _built = (select max(_built) from intermediate.int_orders_resolved)), count(*) "
            "from intermediate.int_orders_resolved").fetchone()
    results = json.loads((warehouse.parent / f".{warehouse.stem}_dbt" / "run_results.json").read_text())
    return {"seconds": seconds, "profile": _profile(warehouse), "state": _state(config),
            "orders_parsed": decided[0], "orders_resolved": resolved[0], "resolved_in_full": bool(resolved[1]),
            "note": (f"as of {as_of}; dbt elapsed {results.get('elapsed_time', 0):.1f}s; order rows parsed/decided "
                     f"{decided[0]:,} of {decided[1]:,}; orders resolved {resolved[0]:,} of {resolved[2]:,}"
                     f"{' (full rebuild)' if resolved[1] else ''}")}


def p_send_list(config: dict) -> dict:
    from laoke.campaigns import Audience, Campaign
    from laoke.send_lists import build_send_list

    campaign = Campaign(
        id="bench_everyone", name="benchmark: everyone with a sendable phone", purpose="brand_care", priority=1,
        audience=Audience(
            mart="customer_segments",
            where=("m.customer_id in (select customer_id from main.customers "
                   "where phone_class in ('valid_mobile', 'virtual_operator') "
                   f"order by customer_id limit {SEND_LIST_CUSTOMERS})"),
            segment="s.lifecycle_status"),
        messages={"default": "满199减30：{name}，老客专享，券码{coupon}"}, offer="满199减30", coupon="BENCH30",
        exclude_bought_in_promotion=False,
    )
    # A list of a million does not fit 14 days of send slots at the default 500 a slot: a store
    # sending to everyone raises send_slot_max_messages, as the error message says.
    from laoke.settings import dbt_vars

    dbt_vars()["send_slot_max_messages"] = SEND_SLOT_MAX_MESSAGES
    send_list, seconds = timed(build_send_list, campaign, Path(config["warehouse"]))
    counts = send_list.rule_counts
    return {"seconds": seconds, "counts": counts,
            "note": f"send_slot_max_messages {SEND_SLOT_MAX_MESSAGES:,}; audience {counts['audience']:,}; treatment {counts['treatment']:,}, holdout {counts['holdout']:,}; "
                    + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k not in ("audience", "treatment", "holdout") and v)}


def p_evaluation(config: dict) -> dict:
    try:
        from laoke.evaluation import evaluate
    except ImportError:
        return {"seconds": None, "note": "laoke.evaluation does not exist yet: skipped"}
    from laoke.send_lists import export_campaigns
    from laoke.settings import dbt_vars

    # At 100M the campaign has ~266,000 members: more than 14 days of slots at 500 (see p_send_list).
    dbt_vars()["send_slot_max_messages"] = SEND_SLOT_MAX_MESSAGES
    warehouse = Path(config["warehouse"])
    exported, export_seconds = timed(export_campaigns, [EVALUATED_CAMPAIGN], warehouse, Path(config["work"]) / "exports")
    refused = [r.refused for r in exported if getattr(r, "refused", None)]
    lift, evaluate_seconds = timed(evaluate, warehouse)
    with _connect(config, read_only=True) as con:
        members = con.execute("select count(*) from campaigns.send_ledger where campaign_id = ?", [EVALUATED_CAMPAIGN]).fetchone()[0]
    return {"seconds": evaluate_seconds, "export_seconds": export_seconds, "members": members,
            "note": (f"{EVALUATED_CAMPAIGN} (send_slot_max_messages {SEND_SLOT_MAX_MESSAGES:,}): export (gate, CSV, XLSX, "
                     f"ledger) {export_seconds}s for {members:,} members"
                     f"{' REFUSED: ' + refused[0][:80] if refused else ''}; evaluate (dbt evaluation models + lift) "
                     f"{evaluate_seconds}s, {len(lift)} lift rows")}


PHASES = {
    "generate": p_generate, "load": p_load, "floor": p_floor, "full build": p_full_build, "btyd": p_btyd,
    "predictions": p_predictions, "day": p_day, "incremental load": p_incremental_load, "incremental build": p_incremental_build,
    "send list": p_send_list, "evaluation": p_evaluation,
}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--phase":
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        sys.exit(phase_main(sys.argv[2], Path(sys.argv[4])))
    sys.exit(main())
