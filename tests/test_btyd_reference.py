"""customer_rfm against the field's reference: lifetimes' summary_data_from_transaction_data.

The transaction log is CDNOW (shipped inside the lifetimes package): a real store's log that nobody
here wrote, put in a landing folder as the smallest store a user can bring, a single orders.csv
with customer_id, ordered_at (YYYYMMDD), amount. It has zero-amount lines and identical lines,
both of which count as purchases.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

lifetimes_utils = pytest.importorskip("lifetimes.utils")

AS_OF = date(1998, 6, 30)


def cdnow_orders() -> pd.DataFrame:
    import lifetimes.datasets

    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_master.txt"
    frame = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    return frame.rename(columns={"date": "ordered_at", "dollar_value": "amount", "number_of_cds": "quantity"})


@pytest.fixture(scope="module")
def cdnow_warehouse(tmp_path_factory) -> Path:
    from laoke.build import build_warehouse

    root = tmp_path_factory.mktemp("cdnow")
    (root / "landing").mkdir()
    cdnow_orders()[["customer_id", "ordered_at", "amount"]].to_csv(root / "landing" / "orders.csv", index=False)
    build_warehouse(root / "landing", root / "warehouse.duckdb", as_of=AS_OF, load_date=AS_OF)
    return root / "warehouse.duckdb"


def test_customer_rfm_equals_lifetimes_on_every_customer(cdnow_warehouse):
    orders = cdnow_orders()
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], format="%Y%m%d")
    expected = lifetimes_utils.summary_data_from_transaction_data(
        orders, "customer_id", "ordered_at", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(AS_OF), freq="D",
    ).sort_index()
    with duckdb.connect(str(cdnow_warehouse), read_only=True) as con:
        actual = con.sql(
            "select customer_id, frequency, recency, t, monetary_value from main.customer_rfm order by customer_id"
        ).df().set_index("customer_id")

    assert len(actual) == len(expected) == 23570
    assert list(actual.index) == list(expected.index)
    np.testing.assert_array_equal(actual["frequency"].to_numpy(), expected["frequency"].to_numpy())
    np.testing.assert_array_equal(actual["recency"].to_numpy(), expected["recency"].to_numpy())
    np.testing.assert_array_equal(actual["t"].to_numpy(), expected["T"].to_numpy())
    np.testing.assert_allclose(actual["monetary_value"].to_numpy(), expected["monetary_value"].to_numpy(), rtol=1e-9, atol=1e-9)


def test_purchases_after_as_of_are_left_out(tmp_path):
    """Replaying history: as_of in the middle of the log gives lifetimes' summary at that date."""
    from laoke.build import build_warehouse

    replay = date(1997, 6, 30)
    orders = cdnow_orders()
    orders = orders[orders["customer_id"].astype(int) <= 300]
    (tmp_path / "landing").mkdir()
    orders[["customer_id", "ordered_at", "amount"]].to_csv(tmp_path / "landing" / "orders.csv", index=False)
    build_warehouse(tmp_path / "landing", tmp_path / "w.duckdb", as_of=replay, load_date=AS_OF)

    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], format="%Y%m%d")
    expected = lifetimes_utils.summary_data_from_transaction_data(
        orders, "customer_id", "ordered_at", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(replay), freq="D",
    ).sort_index()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        actual = con.sql("select * from main.customer_rfm order by customer_id").df().set_index("customer_id")
    assert list(actual.index) == list(expected.index)
    np.testing.assert_array_equal(actual["frequency"], expected["frequency"])
    np.testing.assert_array_equal(actual["t"], expected["T"])
    np.testing.assert_allclose(actual["monetary_value"], expected["monetary_value"], rtol=1e-9)
