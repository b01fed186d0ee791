"""The published check: CDNOW's 1/10 sample, as the smallest store (one orders.csv), built with
`laoke build --as-of` the papers' calibration end (39 weeks, 1997-09-30), gives the published
BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma parameters in main.prediction_model_fits."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from laoke.cli import main

pytest.importorskip("lifetimes")

# BG/NBD's alpha is published in weeks; the warehouse measures time in days (alpha x 7).
PUBLISHED = {
    ("bg_nbd", "r"): 0.243, ("bg_nbd", "alpha"): 4.414 * 7, ("bg_nbd", "a"): 0.793, ("bg_nbd", "b"): 2.426,
    ("gamma_gamma", "p"): 6.25, ("gamma_gamma", "q"): 3.74, ("gamma_gamma", "v"): 15.44,
}


@pytest.fixture(scope="module")
def cdnow_sample_warehouse(tmp_path_factory) -> Path:
    import lifetimes.datasets

    root = tmp_path_factory.mktemp("cdnow_sample")
    raw = pd.read_csv(Path(lifetimes.datasets.__file__).parent / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["customer_id", "sample_id", "ordered_at", "quantity", "amount"], dtype=str)
    (root / "landing").mkdir()
    raw[["customer_id", "ordered_at", "amount"]].to_csv(root / "landing" / "orders.csv", index=False)
    mp = pytest.MonkeyPatch()
    mp.setenv("LAOKE_LANDING", str(root / "landing"))
    mp.setenv("LAOKE_WAREHOUSE", str(root / "warehouse.duckdb"))
    try:
        assert main(["build", "--as-of", "1997-09-30"]) == 0
    finally:
        mp.undo()
    return root / "warehouse.duckdb"


def test_fitted_parameters_within_one_percent_of_the_papers(cdnow_sample_warehouse):
    with duckdb.connect(str(cdnow_sample_warehouse), read_only=True) as con:
        fits = {(m, p): (v, unit, ok) for m, p, v, unit, ok in con.execute(
            "select model, parameter, value, time_unit, converged from main.prediction_model_fits"
        ).fetchall()}
    for key, published in PUBLISHED.items():
        value, unit, converged = fits[key]
        assert converged, key
        assert value == pytest.approx(published, rel=0.01), (key, value, published)
    assert fits[("bg_nbd", "alpha")][1] == "days"


def test_predictions_have_numbers_and_a_status(cdnow_sample_warehouse):
    with duckdb.connect(str(cdnow_sample_warehouse), read_only=True) as con:
        rows = con.execute("select count(*), count(p_alive), min(p_alive), max(p_alive), "
                           "count(*) filter (where prediction_status = 'ok') from main.customer_predictions").fetchone()
    total, with_p_alive, lowest, highest, ok = rows
    assert total == 2357 and with_p_alive == total and ok > 0
    assert 0 <= lowest <= highest <= 1
