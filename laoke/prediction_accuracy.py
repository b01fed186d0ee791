"""`laoke evaluate-predictions`: how accurate the purchase predictions are on the store's own history.

Splits the warehouse's orders at a calibration end, fits on the calibration period, predicts the
holdout, and publishes the BG/NBD paper's per-frequency table beside naive baselines: as tables
in the warehouse (main.prediction_accuracy_*) and as a markdown file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from exports.atomic import atomic_path
from laoke.errors import LaokeError
from laoke.predictions import evaluate_predictions, evaluation_markdown
from laoke.warehouse import connect


@dataclass
class AccuracyReport:
    markdown: str
    path: Path
    tables: dict[str, pd.DataFrame]


def run_prediction_evaluation(warehouse: Path, calibration_end: date, reports: Path,
                              holdout_end: date | None = None) -> AccuracyReport:
    with connect(warehouse, read_only=True) as con:
        as_of = con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]
        orders = con.execute(
            "select customer_id, ordered_at, net_amount as amount, is_purchase from main.orders where is_purchase"
        ).df()
    holdout_end = holdout_end or as_of
    if not calibration_end < holdout_end:
        raise LaokeError(f"--calibration-end {calibration_end} must be before the holdout end {holdout_end} "
                         "(the warehouse's as_of, or --holdout-end)")
    try:
        result = evaluate_predictions(orders, calibration_end, holdout_end)
    except ValueError as exc:
        raise LaokeError(f"cannot evaluate predictions: {exc}") from None
    markdown = evaluation_markdown(result)
    path = reports / "prediction_accuracy.md"
    with atomic_path(path) as tmp:
        tmp.write_text(markdown + "\n", encoding="utf-8")
    tables = {name: result[name] for name in ("summary", "by_frequency", "totals", "mae")}
    with connect(warehouse) as con:
        for name, frame in tables.items():
            con.register("_accuracy", frame)
            con.execute(f"create or replace table main.prediction_accuracy_{name} as select * from _accuracy")
            con.unregister("_accuracy")
    return AccuracyReport(markdown, path, tables)
