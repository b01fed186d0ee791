"""The demo store generator: deterministic, on contract, dirty where asked and realistic where it matters."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from laoke.contract import LANDING_FILES
from laoke.errors import LaokeError
from laoke.generate import DIRTY_KINDS, OPT_OUT_REPLIES, generate_store

N = 2000
END = date(2026, 10, 31)
MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _read(folder: Path, name: str, encoding: str = "utf-8") -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False, encoding=encoding)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def dirty_store(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dirty")
    return out, generate_store(out, customers=N, seed=7)


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean")
    return out, generate_store(out, customers=N, seed=7, dirty=False)


# --- determinism ----------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files(tmp_path, dirty_store):
    folder, summary = dirty_store
    again = generate_store(tmp_path / "again", customers=N, seed=7)
    assert _bytes(tmp_path / "again") == _bytes(folder)
    assert again["files"] == summary["files"] and again["dirty"] == summary["dirty"]


def test_a_different_seed_gives_a_different_store(tmp_path, dirty_store):
    folder, _ = dirty_store
    generate_store(tmp_path / "other", customers=N, seed=8)
    other, first = _bytes(tmp_path / "other"), _bytes(folder)
    assert other["orders.csv"] != first["orders.csv"]
    assert other["customers.csv"] != first["customers.csv"]
    assert other["products.csv"] == first["products.csv"]  # the catalogue is the store's, not random


def test_csv_bytes_do_not_depend_on_chunk_size(tmp_path, dirty_store):
    folder, _ = dirty_store
    generate_store(tmp_path / "chunked", customers=N, seed=7, chunk_customers=137)
    assert _bytes(tmp_path / "chunked") == _bytes(folder)


def test_parquet_runs_are_byte_identical(tmp_path):
    generate_store(tmp_path / "a", customers=300, fmt="parquet")
    generate_store(tmp_path / "b", customers=300, fmt="parquet")
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")


# --- the landing contract ----------------------------------------------------------------------------


def test_every_csv_has_exactly_the_contract_columns_in_order(dirty_store):
    folder, summary = dirty_store
    assert set(summary["files"]) == {f"{name}.csv" for name in LANDING_FILES}
    for name, spec in LANDING_FILES.items():
        header = (folder / f"{name}.csv").read_text("utf-8").splitlines()[0]
        assert header.split(",") == list(spec.required + spec.optional), name
        assert summary["files"][f"{name}.csv"] == len(_read(folder, name))


def test_parquet_has_the_contract_columns_and_the_csv_rows(tmp_path):
    generate_store(tmp_path / "csv", customers=500)
    summary = generate_store(tmp_path / "pq", customers=500, fmt="parquet")
    con = duckdb.connect()
    for name, spec in LANDING_FILES.items():
        path = tmp_path / "pq" / f"{name}.parquet"
        assert pq.read_schema(path).names == list(spec.columns)
        from_parquet = pq.read_table(path).to_pandas().fillna("")
        from_csv = _read(tmp_path / "csv", name)
        assert from_parquet.astype(str).values.tolist() == from_csv.values.tolist(), name
        assert con.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0] == summary["files"][path.name]


def test_gbk_csv_round_trips_to_the_same_text(tmp_path, dirty_store):
    folder, _ = dirty_store
    summary = generate_store(tmp_path / "gbk", customers=N, encoding="gbk")
    assert summary["encoding"] == "gbk"
    for name in LANDING_FILES:
        raw = (tmp_path / "gbk" / f"{name}.csv").read_bytes()
        assert raw.decode("gb18030") == (folder / f"{name}.csv").read_text("utf-8")
        raw.decode("gbk")  # strict GBK too: nothing needs GB18030's four-byte extension
    customers = _read(tmp_path / "gbk", "customers", encoding="gb18030")
    assert customers["name"].str.contains(r"[\u4e00-\u9fff]").all()


def test_bad_arguments_are_refused_with_a_message(tmp_path):
    with pytest.raises(LaokeError, match="format"):
        generate_store(tmp_path, customers=10, fmt="xlsx")
    with pytest.raises(LaokeError, match="CSV only"):
        generate_store(tmp_path, customers=10, fmt="parquet", encoding="gbk")
    with pytest.raises(LaokeError, match="encoding"):
        generate_store(tmp_path, customers=10, encoding="latin-1")


# --- dirty rows ----------------------------------------------------------------------------------------


def _original(customers: pd.DataFrame) -> pd.DataFrame:
    return customers[customers["customer_id"].str[1:].astype(int) <= N]


def test_every_dirty_kind_is_counted_and_really_in_the_files(dirty_store):
    folder, summary = dirty_store
    dirty = summary["dirty"]
    assert list(dirty) == list(DIRTY_KINDS)
    assert all(count >= 1 for count in dirty.values()), {k: v for k, v in dirty.items() if v < 1}

    customers, orders = _read(folder, "customers"), _read(folder, "orders")
    lines, products = _read(folder, "order_lines"), _read(folder, "products")
    phones = _original(customers)["phone"]
    shapes = {
        "phone_plus86": r"^\+86 1\d{10}$",
        "phone_0086": r"^00861\d{10}$",
        "phone_86": r"^861\d{10}$",
        "phone_spaces": r"^1\d{2} \d{4} \d{4}$",
        "phone_dashes": r"^1\d{2}-\d{4}-\d{4}$",
        "phone_fullwidth": r"^[０-９]{11}$",
        "phone_landline": r"^0\d{2,3}-\d{8}$",
        "phone_too_short": r"^1\d{6}$",
        "phone_empty": r"^$",
    }
    for kind, pattern in shapes.items():
        assert phones.str.match(pattern).sum() == dirty[kind], kind
    assert len(customers) == N + dirty["duplicate_customer"]
    assert (orders["customer_id"].str[1:].astype(int) > N).sum() == dirty["duplicate_customer_orders"]
    birthday = customers["birthday"]
    assert ((birthday != "") & ((birthday < "1900") | (birthday > END.isoformat()))).sum() == dirty["impossible_birthday"]

    at, status, amount = orders["ordered_at"], orders["status"], orders["amount"].astype(float)
    standard = at.str.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
    assert (standard & (at > f"{END.isoformat()} 23:59:59")).sum() == dirty["future_order"]
    assert ((status == "paid") & (amount < 0)).sum() == dirty["negative_paid_order"]
    assert (status == "test").sum() == dirty["test_order"]
    assert orders["order_id"].duplicated().sum() == dirty["duplicate_order_row"]
    assert (at == "not a date").sum() == dirty["unparseable_date"]
    assert at.str.match(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}$").sum() == dirty["ordered_at_slash"]
    assert at.str.match(r"^\d{8}$").sum() == dirty["ordered_at_yyyymmdd"]
    assert at.str.match(r"^\d{4}年\d{1,2}月\d{1,2}日$").sum() == dirty["ordered_at_chinese"]
    assert at.str.match(r"^\d{10}$").sum() == dirty["ordered_at_epoch"]
    assert (~lines["product_id"].isin(products["product_id"])).sum() == dirty["unknown_product"]

    # registered after the first order (looking only at well-formed, not future, order dates)
    fine = orders[standard & (at <= f"{END.isoformat()} 23:59:59")]
    first = fine.groupby("customer_id")["ordered_at"].min()
    registered = customers.set_index("customer_id")["registered_at"].reindex(first.index)
    late = int((registered > first).sum())
    assert 1 <= late <= dirty["registered_after_first_order"]


def test_a_duplicated_customer_is_the_same_person_under_a_second_id(dirty_store):
    folder, _ = dirty_store
    customers = _read(folder, "customers")
    digits = customers["phone"].map(lambda p: re.sub(r"\D", "", p.translate({0xFF10 + i: str(i) for i in range(10)}))[-11:])
    customers = customers.assign(digits=digits, number=customers["customer_id"].str[1:].astype(int))
    seconds = customers[customers["number"] > N]
    firsts = customers[customers["number"] <= N].set_index("digits")
    for _, second in seconds.iterrows():
        first = firsts.loc[second["digits"]]
        assert first["name"] == second["name"]
        assert first["phone"] != second["phone"]  # the same number, written another way


def test_dirty_false_plants_nothing(clean_store):
    folder, summary = clean_store
    assert set(summary["dirty"].values()) == {0}
    customers, orders = _read(folder, "customers"), _read(folder, "orders")
    lines, products = _read(folder, "order_lines"), _read(folder, "products")
    assert len(customers) == N and customers["customer_id"].is_unique
    assert customers["phone"].str.match(MOBILE).all()
    birthday = customers["birthday"][customers["birthday"] != ""]
    assert (birthday > "1900").all() and (birthday < END.isoformat()).all()
    assert orders["ordered_at"].str.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").all()
    assert (orders["ordered_at"] <= f"{END.isoformat()} 23:59:59").all()
    assert orders["order_id"].is_unique
    assert set(orders["status"]) == {"paid", "cancelled", "unpaid", "refunded"}
    assert (orders["amount"].astype(float) >= 0).all()
    assert lines["product_id"].isin(products["product_id"]).all()
    first = orders.groupby("customer_id")["ordered_at"].min()
    registered = customers.set_index("customer_id")["registered_at"].reindex(first.index)
    assert (registered <= first).all()


# --- the shape of the store ----------------------------------------------------------------------------


def test_orders_add_up_and_refunds_are_status_or_negative_lines(clean_store):
    folder, _ = clean_store
    orders, lines = _read(folder, "orders"), _read(folder, "order_lines")
    cents = (lines["amount"].astype(float) * 100).round().astype(int)
    positive = cents.where(cents > 0, 0).groupby(lines["order_id"]).sum()
    order_cents = (orders.set_index("order_id")["amount"].astype(float) * 100).round().astype(int)
    assert (positive.reindex(order_cents.index) == order_cents).all()
    refund_lines = lines[cents < 0]
    assert len(refund_lines) > 0 and (refund_lines["quantity"].astype(int) < 0).all()
    assert refund_lines["order_id"].isin(orders["order_id"]).all()
    refunded = (orders["status"] == "refunded").sum() + refund_lines["order_id"].nunique()
    assert 0.01 < refunded / len(orders) < 0.04
    assert (orders["amount"] == "0.00").sum() >= 1  # free gifts
    assert set(orders["channel"]) <= {"tmall", "taobao", "douyin", "jd"}
    assert 1.4 < len(lines) / len(orders) < 1.8
    assert 4.0 < len(lines) / N < 6.0


def test_promotions_mark_their_orders_and_raise_intensity(clean_store):
    folder, _ = clean_store
    orders = _read(folder, "orders")
    promo = orders["promotion_id"]
    assert promo[promo != ""].str.match(r"^\d{4}-(0618|1111|1212|cny)$").all()
    assert (orders.loc[promo != "", "discount_amount"].astype(float) > 0).mean() > 0.9
    day = orders["ordered_at"].str[:10]
    in_1111 = day.str[5:].between("11-01", "11-11")
    per_day_1111 = in_1111.sum() / day[in_1111].nunique()
    per_day_other = (promo == "").sum() / day[promo == ""].nunique()
    assert per_day_1111 > 1.5 * per_day_other


def test_repeat_behaviour_is_realistic(clean_store):
    folder, _ = clean_store
    orders = _read(folder, "orders")
    paid = orders[orders["status"] == "paid"]
    days = paid.assign(day=paid["ordered_at"].str[:10]).groupby("customer_id")["day"].nunique()
    repeats = (days - 1).sort_values(ascending=False)
    top = repeats.iloc[: int(len(repeats) * 0.2)].sum()
    assert top / repeats.sum() > 0.5
    assert 0.3 < (days == 1).mean() < 0.8
    assert 0.80 < len(days) / N < 0.95  # about 10% prospects, plus late registrants


def test_repeat_gaps_follow_the_consumption_cycle(clean_store):
    folder, _ = clean_store
    orders, lines, products = _read(folder, "orders"), _read(folder, "order_lines"), _read(folder, "products")
    main = lines[lines["line_id"] == "1"].merge(products, on="product_id")[["order_id", "consumption_cycle_days"]]
    o = orders.merge(main, on="order_id").sort_values(["customer_id", "ordered_at"])
    o["ts"] = pd.to_datetime(o["ordered_at"])
    o["gap"] = (o.groupby("customer_id")["ts"].shift(-1) - o["ts"]).dt.days
    gaps = o.dropna(subset=["gap"]).groupby("consumption_cycle_days")["gap"].median()
    assert gaps["10"] < gaps["30"] < gaps["60"]


def test_products_have_lines_cycles_and_complements(clean_store):
    folder, _ = clean_store
    products = _read(folder, "products")
    assert 40 <= len(products) <= 60 and products["product_id"].is_unique
    durable = products["is_durable"] == "true"
    assert durable.any() and (products.loc[durable, "consumption_cycle_days"] == "").all()
    assert (products.loc[~durable, "consumption_cycle_days"].astype(int) > 0).all()
    assert products.loc[products["category"] == "face_mask", "complementary_categories"].eq("serum;cream").all()
    complements = {c for value in products["complementary_categories"] if value for c in value.split(";")}
    assert complements <= set(products["category"])
    price = products["price"].astype(float)
    upsells = products.assign(price=price).groupby(["product_line", "category"])["price"].agg(lambda p: p.max() >= 1.2 * p.min())
    assert upsells.sum() >= 5


def test_opt_outs_use_the_customers_phones_and_known_replies(dirty_store):
    folder, _ = dirty_store
    opt_outs, customers = _read(folder, "opt_outs"), _read(folder, "customers")
    assert 0.015 < (opt_outs["event"].isin(["opt_out", ""])).sum() / N < 0.05
    assert opt_outs["phone"].isin(customers["phone"]).all() and (opt_outs["phone"] != "").all()
    replies = opt_outs.loc[opt_outs["event"].isin(["opt_out", ""]), "reply_text"]
    assert replies.isin(OPT_OUT_REPLIES).all()
    assert {"opt_in", "blacklist"} <= set(opt_outs["event"])
    for phone, events in opt_outs.groupby("phone"):
        ins, outs = events[events["event"] == "opt_in"], events[events["event"] != "opt_in"]
        if len(ins):
            assert ins["occurred_at"].min() >= outs["occurred_at"].min(), phone


def test_points_follow_paid_orders_and_never_go_negative(clean_store):
    folder, _ = clean_store
    points, orders = _read(folder, "points"), _read(folder, "orders")
    assert set(points["reason"]) == {"purchase", "check_in", "review", "redeem"}
    purchase = points[points["reason"] == "purchase"].merge(orders, on="order_id", suffixes=("", "_order"))
    assert (purchase["status"] == "paid").all()
    assert (purchase["points"].astype(int) == np.floor(purchase["amount"].astype(float)).astype(int)).all()
    check_in = points.loc[points["reason"] == "check_in", "points"].astype(int)
    assert check_in.between(5, 10).all()
    ordered = points.assign(p=points["points"].astype(int)).sort_values(["customer_id", "occurred_at"], kind="stable")
    assert (ordered.groupby("customer_id")["p"].cumsum() >= 0).all()


def test_small_chunks_write_every_customer_once(tmp_path):
    summary = generate_store(tmp_path, customers=1000, dirty=False, chunk_customers=64)
    customers = _read(tmp_path, "customers")
    assert summary["files"]["customers.csv"] == 1000
    assert customers["customer_id"].tolist() == [f"C{i:07d}" for i in range(1, 1001)]
    assert len(_read(tmp_path, "orders")) == summary["files"]["orders.csv"] > 0


def test_an_empty_store_still_writes_headers(tmp_path):
    summary = generate_store(tmp_path, customers=0)
    assert summary["files"]["customers.csv"] == 0 and summary["files"]["products.csv"] > 0
    assert (tmp_path / "orders.csv").read_text("utf-8") == ",".join(LANDING_FILES["orders"].columns) + "\n"
