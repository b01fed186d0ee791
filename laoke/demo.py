"""`make demo`: the whole pipeline on the embedded demo store, saying where each output is."""

from __future__ import annotations

import shutil
from datetime import date

from laoke.settings import Paths

# The demo's dates are fixed so that `make demo` gives the same files on every machine and day.
DEMO_END = date(2026, 10, 31)
DEMO_CALIBRATION_END = date(2026, 4, 30)  # six months of holdout for `laoke evaluate-predictions`


def run_demo(paths: Paths, customers: int = 2000, seed: int = 7) -> None:
    from laoke.build import build_warehouse
    from laoke.generate import generate_store

    if paths.landing.exists():
        shutil.rmtree(paths.landing)
    generate_store(paths.landing, customers=customers, seed=seed, end_date=DEMO_END)
    print(f"1. demo store ({customers:,} customers) written to {paths.landing}")
    if paths.warehouse.exists():
        paths.warehouse.unlink()
    result = build_warehouse(paths.landing, paths.warehouse, as_of=DEMO_END, load_date=DEMO_END)
    rejected = sum(f.rows_rejected for f in result.loaded)
    print(f"2. warehouse built as of {result.as_of}: {paths.warehouse}")
    print(f"   ({sum(f.rows_in for f in result.loaded):,} rows loaded from {len(result.loaded)} files, "
          f"{rejected:,} rejected at load; every rejected row is in main.quarantine)")
    if result.predictions:
        print(f"   predictions: {result.predictions.get('status')}, model {result.predictions.get('model_used')} "
              "(main.customer_predictions, main.prediction_model_fits)")
    from laoke.prediction_accuracy import run_prediction_evaluation

    accuracy = run_prediction_evaluation(paths.warehouse, DEMO_CALIBRATION_END, paths.reports)
    print(f"   prediction accuracy (calibration to {DEMO_CALIBRATION_END}, holdout to {DEMO_END}): {accuracy.path}")
    from laoke.send_lists import export_campaigns

    results = export_campaigns(None, paths.warehouse, paths.exports)
    print(f"3. send lists for {len(results)} campaigns (CSV, XLSX, manifest each) in {paths.exports}:")
    for r in results:
        c = r.manifest["counts"]
        if r.refused or r.skipped:
            print(f"   {r.campaign_id:22} nothing written: {r.refused or r.skipped}")
            continue
        print(f"   {r.campaign_id:22} {c['treatment']:>6,} to send, {c['holdout']:>5,} held out, "
              f"{c['audience'] - c['treatment'] - c['holdout']:>5,} dropped by send rules")
    from laoke.results_cli import run_demo_results

    run_demo_results(paths)
    print("   try: .venv/bin/python -c \"import duckdb; print(duckdb.connect('"
          f"{paths.warehouse}', read_only=True).sql('select lifecycle_status, count(*) from main.customer_lifecycle group by 1'))\"")
