"""benchmarks/predictions.py's lifetimes reference: the same customers every run, and a fit that
lifetimes calls unconverged is retried with a looser tolerance instead of failing the benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from predictions import LIFETIMES_TOLERANCES, _fit_lifetimes, load_rfm  # noqa: E402


def test_a_fit_lifetimes_calls_unconverged_is_retried_with_a_looser_tolerance():
    from lifetimes.utils import ConvergenceError

    tolerances = []

    class StrictFitter:
        def fit(self, *columns, tol):
            tolerances.append(tol)
            if tol < LIFETIMES_TOLERANCES[-1]:
                raise ConvergenceError("precision loss")
            return self

    model, seconds = _fit_lifetimes(StrictFitter, [1.0], [2.0])
    assert isinstance(model, StrictFitter) and seconds >= 0
    assert tolerances == list(LIFETIMES_TOLERANCES)

    class NeverFitter:
        def fit(self, *columns, tol):
            raise ConvergenceError("precision loss")

    with pytest.raises(ConvergenceError):
        _fit_lifetimes(NeverFitter, [1.0])


def test_the_sample_of_customers_does_not_depend_on_the_tables_row_order(tmp_path):
    rows = [(f"C{i:05d}", float(i % 4), float(i % 7), 30.0 + i % 11, float(i % 5)) for i in range(500)]
    samples = []
    for order in (rows, rows[::-1]):
        warehouse = tmp_path / f"w{len(samples)}.duckdb"
        with duckdb.connect(str(warehouse)) as con:
            con.execute("create table main.customer_rfm (customer_id varchar, frequency double, recency double, "
                        "t double, monetary_value double)")
            con.executemany("insert into main.customer_rfm values (?, ?, ?, ?, ?)", order)
        samples.append(load_rfm(warehouse, 100, seed=7)["customer_id"].tolist())
    assert samples[0] == samples[1] and len(samples[0]) == 100
