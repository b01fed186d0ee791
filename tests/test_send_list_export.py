"""Send lists end to end: gate, files, manifest, ledger; reruns; properties over generated stores."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laoke.build import build_warehouse
from laoke.phones import normalize_phone
from laoke.replies import classify_reply
from laoke.send_lists import export_campaigns


@pytest.fixture
def campaign_warehouse(demo_warehouse, tmp_path) -> Path:
    """A private copy: exports write the ledger."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse, copy)
    return copy


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def ledger_counts(warehouse: Path) -> tuple[int, int, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return tuple(con.execute(f"select count(*) from campaigns.{t}").fetchone()[0]
                     for t in ("send_ledger", "send_exclusions", "send_list_runs"))


def test_every_campaign_exports_and_a_rerun_is_byte_identical(campaign_warehouse, tmp_path):
    out = tmp_path / "exports"
    results = export_campaigns(None, campaign_warehouse, out)
    assert len(results) >= 8
    first, first_ledger = snapshot(out), ledger_counts(campaign_warehouse)
    for result in results:
        if result.refused or result.skipped:  # e.g. a low-priority list emptied by the cap: nothing written
            assert not (out / result.campaign_id).exists()
            continue
        kinds = {p.suffix for p in result.files}
        assert {".csv", ".xlsx", ".json"} <= kinds
        counts = result.manifest["counts"]
        assert counts["audience"] == sum(v for k, v in counts.items() if k != "audience")  # every member accounted for
        assert result.manifest["gate_result_id"]
    assert not list(out.rglob("*.tmp"))  # nothing half-written

    export_campaigns(None, campaign_warehouse, out)
    assert snapshot(out) == first
    assert ledger_counts(campaign_warehouse) == first_ledger


def test_seed_001_trap_drops_recent_buyers_and_says_how_many(campaign_warehouse, tmp_path):
    (result,) = export_campaigns(["recent_buyers_trap"], campaign_warehouse, tmp_path)
    dropped = result.manifest["counts"]["recent_buyer"]
    assert dropped > 0
    assert any(f"{dropped:,} recent buyers" in w for w in result.warnings)


def _suppressed_from_landing(landing: Path) -> set[str]:
    """Opted-out and blacklisted phones, computed from the landing file without the warehouse."""
    events = pd.read_csv(landing / "opt_outs.csv", dtype=str, keep_default_na=False)
    events["e164"] = [normalize_phone(p).e164 for p in events["phone"]]
    events["kind"] = [e or classify_reply(t) or "opt_out" for e, t in zip(events["event"], events["reply_text"])]
    blacklisted = set(events.loc[events["kind"] == "blacklist", "e164"])
    consent = events[events["kind"].isin(["opt_out", "opt_in"])].copy()
    consent["rank"] = consent["kind"].map({"opt_in": 0, "opt_out": 1})  # same time: opt-out wins
    latest = consent.sort_values(["occurred_at", "rank"]).groupby("e164").tail(1)
    return blacklisted | set(latest.loc[latest["kind"] == "opt_out", "e164"])


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(min_value=1, max_value=10_000))
def test_properties_over_generated_stores(seed, tmp_path_factory):
    from laoke.generate import generate_store

    root = tmp_path_factory.mktemp(f"store{seed}")
    as_of = date(2026, 10, 31)
    generate_store(root / "landing", customers=400, seed=seed, end_date=as_of)
    warehouse = root / "w.duckdb"
    build_warehouse(root / "landing", warehouse, as_of=as_of, load_date=as_of)
    out = root / "exports"
    results = export_campaigns(None, warehouse, out)

    suppressed = _suppressed_from_landing(root / "landing")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ledger = con.execute("select * from campaigns.send_ledger").df()
        last_paid = dict(con.execute("select customer_id, max(ordered_on) from main.orders where is_purchase group by 1").fetchall())

    for result in (r for r in results if r.files):
        exported = pd.read_csv(next(p for p in result.files if p.name.endswith(".csv") and "gbk" not in p.name),
                               dtype=str, encoding="utf-8-sig")
        send_date = date.fromisoformat(result.manifest["send_date"])
        phones = [normalize_phone(p) for p in exported["phone"]]
        assert all(p.phone_class in ("valid_mobile", "virtual_operator") for p in phones)
        assert not {p.e164 for p in phones} & suppressed
        assert exported["phone"].is_unique
        recent = [last_paid.get(c) for c in exported["customer_id"]]
        assert not any(d is not None and d >= send_date - timedelta(days=7) for d in recent)
        counts = result.manifest["counts"]
        if counts["treatment"] + counts["holdout"] >= 300:
            share = counts["holdout"] / (counts["treatment"] + counts["holdout"])
            assert abs(share - result.manifest["holdout_share"]) <= 0.05

    sent = ledger[ledger["treatment_group"] == "treatment"]
    for phone, group in sent.groupby("e164"):
        days = sorted(group["send_date"])
        for d in days:  # no 30-day window holds more than 3 marketing messages
            assert sum(1 for x in days if d <= x < d + timedelta(days=30)) <= 3

    before = snapshot(out)
    export_campaigns(None, warehouse, out)
    assert snapshot(out) == before
