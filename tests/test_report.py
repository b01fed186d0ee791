"""The HTML report: self-contained, deterministic, and its charts render in a real (headless) browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from laoke.errors import LaokeError
from laoke.settings import Paths

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = ("conversion", "lift", "revenue", "roi", "funnel")


@pytest.fixture(scope="module")
def demo_report(demo_landing, demo_warehouse, tmp_path_factory):
    """`make demo`'s results step on a copy of the demo store: winback_coupon exported, then
    run_demo_results (simulate +1.0 point, pull results, rebuild, lift, report)."""
    from exports.send_list_export import export_send_list
    from laoke.campaigns import get_campaign
    from laoke.results import ensure_results_tables
    from laoke.results_cli import run_demo_results
    from laoke.send_lists import build_send_list, ensure_ledger

    root = tmp_path_factory.mktemp("report")
    paths = Paths(landing=root / "landing", warehouse=root / "warehouse.duckdb", exports=root / "exports",
                  reports=root / "reports")
    shutil.copytree(demo_landing, paths.landing)
    shutil.copyfile(demo_warehouse, paths.warehouse)
    with duckdb.connect(str(paths.warehouse)) as con:
        ensure_ledger(con)
        ensure_results_tables(con)
    export_send_list(build_send_list(get_campaign("winback_coupon"), paths.warehouse), paths.warehouse,
                     paths.exports, gate=False)
    report = run_demo_results(paths, out_dir=root / "results")
    return paths, report


def test_report_is_written_self_contained(demo_report):
    paths, report = demo_report
    assert report == paths.reports / "winback_coupon.html"
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=", page), "plotly.js must be embedded, not loaded from a CDN"
    assert page.count("Plotly.newPlot") == len(CHARTS)
    for chart in CHARTS:
        assert f'id="laoke-{chart}"' in page
    assert "沉睡唤醒券" in page and "95% CI" in page
    assert not list(report.parent.glob(".*.tmp")), "written atomically: no temporary file left"


def test_report_is_deterministic(demo_report):
    from laoke.report import write_report

    paths, report = demo_report
    first = report.read_bytes()
    again = write_report(paths.warehouse, "winback_coupon", paths.reports)
    assert again.read_bytes() == first


def test_report_for_a_campaign_without_results_is_a_clear_error(demo_report):
    from laoke.report import write_report

    paths, _ = demo_report
    with pytest.raises(LaokeError, match="no results for campaign 'birthday_week'"):
        write_report(paths.warehouse, "birthday_week", paths.reports)


def test_charts_render_in_headless_chromium(demo_report, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium; the Makefile installs it)")
    _, report = demo_report
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=10000", "--dump-dom",
         report.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # Plotly draws each chart into <svg class="main-svg"> elements; they exist only if the
    # embedded plotly.js ran and drew the figures.
    for chart in CHARTS:
        block = dom.split(f'id="laoke-{chart}"', 1)
        assert len(block) == 2, f"chart {chart} missing from the DOM"
        assert 'class="main-svg"' in block[1].split('id="laoke-', 1)[0], f"chart {chart} did not render"
    assert dom.count('class="main-svg"') >= len(CHARTS)
    assert "error bar" not in dom.lower()
