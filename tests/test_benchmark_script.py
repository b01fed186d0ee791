"""benchmarks/run.py works end to end (not a timed test: timings are not checked, only that every
phase runs and the reference comparisons hold), on a store small enough for the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_phase_runs_and_matches_the_references(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "20k", "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "results-20k-csv.json").read_text())
    phases = {p["phase"]: p for p in report["phases"]}
    assert list(phases) == ["generate", "load", "floor", "full build", "btyd", "predictions", "day",
                            "incremental load", "incremental build", "send list", "evaluation"]
    assert not [name for name, p in phases.items() if p.get("error")]
    # each phase starts after the OS has written out what the phases before it left dirty
    assert all(p["sync_seconds_before"] >= 0 for p in phases.values())
    assert phases["btyd"]["identical"] and phases["btyd"]["same_customers"]
    assert phases["predictions"]["largest_parameter_difference"] < 0.001
    # the daily build parsed only the new day's order rows, not the history
    assert phases["incremental build"]["orders_parsed"] < phases["day"]["orders"] * 3
    assert not phases["incremental build"]["resolved_in_full"]
    for key in ("full_build_over_floor", "lifetimes_over_laoke_btyd", "lifetimes_over_laoke_btyd_daily",
                "lifetimes_over_laoke_predictions",
                "incremental_build_over_full_build"):
        assert report["summary"][key] > 0
    # the store is generated once and reused
    assert (tmp_path / "20k-csv" / "summary.json").exists()
    assert not (tmp_path / "run-20k-csv" / "warehouse.duckdb").exists()
