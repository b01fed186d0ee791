"""Send lists end to end: gate, files, manifest, ledger; reruns; properties over generated stores."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.send_list_export import export_send_list
from exports.send_list_files import csv_bytes, export_frame, write_csv, write_xlsx, xlsx_bytes
from laoke.build import build_warehouse
from laoke.errors import LaokeError
from laoke.messages import UNSAFE_CHARACTERS, render
from laoke.phones import normalize_phone
from laoke.replies import classify_reply
from laoke.send_lists import build_send_list, campaigns_by_priority, export_campaigns, tier_display_names


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


# --- customers' text in the files ------------------------------------------------------------------

FOOTER, SIGNATURE = "回T退订", "【老客美妆】"
# Names as stores' back offices hold them: none, blank, the opt-out words, control characters
# (openpyxl refuses \x1c, \x1f, \x08), an emoji and a CJK character outside GBK, a line break, a
# formula. Every second customer gets one; every product name is one of DIRTY_PRODUCTS.
DIRTY_NAMES = ["", "   ", "\u3000", FOOTER, "李\x1c薇", "王\x1f芳\x08", "小美🌸", " 张\n伟 ", "=HYPERLINK(1)", "李薇回T退订"]
DIRTY_PRODUCTS = ["", "回T退订精华", "补水\x1c面膜", "𠮷野家面膜"]


def _replace_column(path: Path, column: str, values: list[str], every: int) -> None:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    i = rows[0].index(column)
    for n, row in enumerate(rows[1:]):
        if n % every == 0:
            row[i] = values[(n // every) % len(values)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))


@pytest.fixture(scope="module")
def dirty_warehouse(demo_landing, tmp_path_factory) -> Path:
    """The demo store with the customers' and products' names of DIRTY_NAMES / DIRTY_PRODUCTS."""
    root = tmp_path_factory.mktemp("dirty_names")
    landing = root / "landing"
    shutil.copytree(demo_landing, landing)
    _replace_column(landing / "customers.csv", "name", DIRTY_NAMES, every=2)
    _replace_column(landing / "products.csv", "name", DIRTY_PRODUCTS, every=1)
    as_of = date(2026, 10, 31)
    build_warehouse(landing, root / "warehouse.duckdb", as_of=as_of, load_date=as_of)
    return root / "warehouse.duckdb"


def _csv_rows(path: Path, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    sheet = load_workbook(path, read_only=True).active
    return [["" if value is None else value for value in row] for row in sheet.iter_rows(values_only=True)]


def test_customers_text_never_breaks_a_message_or_a_file(dirty_warehouse, tmp_path):
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    out = tmp_path / "exports"
    with duckdb.connect(str(dirty_warehouse), read_only=True) as con:
        products = dict(con.execute("select product_id, product_name from main.products").fetchall())
    seen = Counter()
    exported = []
    for campaign in campaigns_by_priority():
        send_list = build_send_list(campaign, dirty_warehouse)
        if send_list.rule_counts["treatment"] == 0:
            continue
        result = export_send_list(send_list, dirty_warehouse, out, gbk=True)
        exported.append(campaign.id)

        # Each message: the recipient's own render, a name the warehouse does not have as None.
        messages = {}
        for row in send_list.treatment.itertuples(index=False):
            name = None if pd.isna(row.name) else row.name
            product = products.get(row.product_id) if isinstance(row.product_id, str) else None
            expected = render(campaign.template_for(row.segment),
                              {"name": name, "tier": tier_display_names().get(row.tier, row.tier), "coupon": campaign.coupon, "product": product},
                              offer=campaign.offer_for(row.segment))
            assert (row.message, row.message_chars) == (expected.text, expected.chars), row.customer_id
            assert row.message.startswith(SIGNATURE) and row.message.endswith(f" {FOOTER}"), row.message
            assert not UNSAFE_CHARACTERS.search(row.message) and "nan" not in row.message, row.message
            seen["missing name"] += name is None
            seen["name with the opt-out words"] += FOOTER in (name or "")
            seen["name with control characters"] += bool(UNSAFE_CHARACTERS.search(name or ""))
            if "{product}" in campaign.template_for(row.segment):
                seen["missing product"] += product is None
                seen["product with the opt-out words"] += FOOTER in (product or "")
            messages[row.customer_id] = row.message

        # The files: the same rows in the CSV, the XLSX and the GBK CSV; the list's messages.
        paths = {p.name.split(".", 1)[1]: p for p in result.files if not p.name.endswith(".json")}
        rows = _csv_rows(paths["csv"], "utf-8-sig")
        assert rows == _xlsx_rows(paths["xlsx"]) == _csv_rows(paths["gbk.csv"], "gb18030"), campaign.id
        header = rows[0]
        assert {r[header.index("customer_id")]: r[header.index("message")] for r in rows[1:]} == messages
        assert not any(ILLEGAL_CHARACTERS_RE.search(value) for row in rows for value in row)
        outside_gbk = any(c in m for m in messages.values() for c in "🌸𠮷")
        assert outside_gbk == any("outside GBK" in w for w in result.warnings), result.warnings
        assert outside_gbk == any("outside GBK" in w for w in result.manifest["warnings"])
        seen["outside GBK"] += outside_gbk

    assert len(exported) >= 5
    assert min(seen.values()) > 0 and len(seen) == 6, seen  # every kind of text reached a message

    # Deterministic with such text too: a rerun writes the same bytes.
    first = snapshot(out)
    export_campaigns(None, dirty_warehouse, out, gbk=True)
    assert snapshot(out) == first


# --- the writers on their own ----------------------------------------------------------------------

def _treatment(**columns) -> pd.DataFrame:
    rows = {
        "national_number": ["13800000001", "13800000002", "13800000003"],
        "message": [f"{SIGNATURE}李薇，满199减60 {FOOTER}", f"{SIGNATURE}小美🌸，满199减60 {FOOTER}",
                    f"{SIGNATURE}王\x1c芳，满199减60 {FOOTER}"],
        "send_at": pd.to_datetime(["2026-11-01 09:30", "2026-11-01 09:31", "2026-11-01 09:32"]),
        "customer_id": ["C1", "C2", "=1+1\x1f"],
        "segment": pd.Series(["sleeping", None, "churned"], dtype="str"),
        "campaign_id": ["winback_coupon"] * 3,
    }
    return pd.DataFrame({**rows, **columns})


def test_csv_and_xlsx_store_any_text_alike_and_the_xlsx_is_deterministic(tmp_path):
    frame = export_frame(_treatment())
    write_csv(frame, tmp_path / "list.csv")
    write_csv(frame, tmp_path / "list.gbk.csv", encoding="gb18030")
    created = datetime(2026, 10, 31)
    write_xlsx(frame, tmp_path / "list.xlsx", created=created)

    rows = _csv_rows(tmp_path / "list.csv", "utf-8-sig")
    assert rows == _xlsx_rows(tmp_path / "list.xlsx") == _csv_rows(tmp_path / "list.gbk.csv", "gb18030")
    assert rows[1:] == [
        ["13800000001", f"{SIGNATURE}李薇，满199减60 {FOOTER}", "2026-11-01 09:30", "C1", "sleeping", "winback_coupon"],
        ["13800000002", f"{SIGNATURE}小美🌸，满199减60 {FOOTER}", "2026-11-01 09:31", "C2", "", "winback_coupon"],
        ["13800000003", f"{SIGNATURE}王芳，满199减60 {FOOTER}", "2026-11-01 09:32", "=1+1", "churned", "winback_coupon"],
    ]  # control characters gone from every field; a missing segment is empty, not 'nan'
    assert (tmp_path / "list.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "list.xlsx").active
    assert sheet["D4"].value == "=1+1" and sheet["D4"].data_type == "s"  # text, not a formula

    assert (tmp_path / "list.xlsx").read_bytes() == xlsx_bytes(frame, created=created)
    with zipfile.ZipFile(tmp_path / "list.xlsx") as xlsx:
        assert {info.date_time for info in xlsx.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2026-10-31T00:00:00Z" in xlsx.read("docProps/core.xml")


def test_a_character_the_csv_encoding_cannot_write_names_its_row_and_field(tmp_path):
    frame = export_frame(_treatment())
    target = tmp_path / "list.gbk.csv"
    with pytest.raises(LaokeError, match=r"list\.gbk\.csv: row 3, field message \(customer C2\): '🌸' cannot be "
                                         r"written in gbk"):
        write_csv(frame, target, encoding="gbk")
    assert not target.exists() and not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(LaokeError, match=r"row 2, field segment \(customer C1\): '😀'"):  # the first in the file
        csv_bytes(export_frame(_treatment(segment=["a😀", "b", "c"])), "x.csv", encoding="gbk")
    # GB18030, what the GBK file is written in, holds every character: one outside GBK is kept
    assert "小美🌸" in csv_bytes(frame, "list.gbk.csv", encoding="gb18030").decode("gb18030")
