"""The export gate: a send list leaves only when its critical checks pass.

check_send_list runs the ``send_list`` suite (quality.suites) through a GX Checkpoint, keeps the
result (GX store, Data Docs, optionally quality.validation_results) and either returns a
GateResult (warnings allowed) or raises GateRefused with one paragraph naming every failed
critical check, how many rows it hit, a few example rows (customer id and masked phone, never a
raw number) and the Data Docs page to open.

A pure library: no Dagster here. A Dagster asset check or the export step calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import duckdb
import pandas as pd

from laoke.errors import LaokeError
from laoke.settings import rule
from quality import suites
from quality.validation import ExpectationOutcome, ValidationOutcome, mask_text, run_validation

log = logging.getLogger("laoke.quality.gate")

# Classes that are a wrong or unusable number (the store's data), as opposed to 'missing' (no
# phone on file) and virtual_operator (a real mobile a store may choose not to text).
INVALID_PHONE_CLASSES = ("landline", "invalid_length", "invalid_prefix", "non_cn")
AUDIENCE_CHECK = "audience_invalid_phone_share"


@dataclass
class GateResult:
    passed: bool
    result_id: str  # the run id: quality.validation_results.run_id and the GX run name
    campaign_id: str
    rows: int
    warnings: list[str] = field(default_factory=list)
    docs_path: Path | None = None  # this validation's Data Docs page (else the index)
    docs_index: Path | None = None
    gx_validation_id: str | None = None
    summary: list[dict[str, Any]] = field(default_factory=list)  # one dict per expectation
    failures: list[str] = field(default_factory=list)  # the failed critical checks, described

    @property
    def failed_checks(self) -> list[str]:
        return [s["check"] for s in self.summary if s["critical"] and not s["success"]]

    @property
    def warning_checks(self) -> list[str]:
        return [s["check"] for s in self.summary if not s["critical"] and not s["success"]]


class GateRefused(LaokeError):
    """The send list failed a critical check; ``result`` holds the details."""

    def __init__(self, message: str, result: GateResult):
        super().__init__(message)
        self.result = result


def default_run_id(campaign_id: str, as_of: dt.date | str | None) -> str | None:
    """'<campaign>@<as_of>' when as_of is known (a rerun of the same list replaces its rows)."""
    if as_of is None:
        return None
    return f"{campaign_id}@{as_of.isoformat() if isinstance(as_of, dt.date) else as_of}"


def audience_check(
    phone_classes: Mapping[str, str], max_invalid_share: float
) -> ExpectationOutcome:
    """Share of the audience (customer_id -> phone class, before exclusions) with an invalid phone."""
    total = len(phone_classes)
    invalid = [c for c, cls in phone_classes.items() if cls in INVALID_PHONE_CLASSES]
    share = len(invalid) / total if total else 0.0
    return ExpectationOutcome(
        check=AUDIENCE_CHECK,
        label=f"invalid phones in the audience above {max_invalid_share:.0%}",
        expectation_type="laoke_audience_invalid_phone_share",
        column="phone_class",
        critical=True,
        success=share <= max_invalid_share,
        unexpected_count=len(invalid),
        unexpected_percent=share * 100,
        element_count=total,
        examples=[mask_text(str(c)) for c in sorted(invalid)[:3]],
    )


def refusal_message(campaign_id: str, outcome: ValidationOutcome) -> str:
    failures = outcome.critical_failures
    checks = "check" if len(failures) == 1 else "checks"
    docs = outcome.docs_page or outcome.docs_index
    text = (
        f"Send list for campaign {campaign_id} refused ({outcome.rows} rows, run {outcome.run_id}): "
        f"{len(failures)} critical {checks} failed — "
        + "; ".join(f.describe() for f in failures)
        + "."
    )
    if docs:
        text += f" Data Docs: {docs}"
    return mask_text(text)


def check_send_list(
    send_list: pd.DataFrame,
    *,
    suppressed_e164: set[str] | frozenset[str] | list[str],
    phone_classes: Mapping[str, str] | None,
    holdout_share: float | None = None,
    campaign_id: str,
    as_of: dt.date | str | None = None,
    run_id: str | None = None,
    holdout_share_tolerance: float | None = None,
    max_segments: int | None = None,
    allow_virtual: bool | None = None,
    max_invalid_phone_share: float | None = None,
    warehouse_con: duckdb.DuckDBPyConnection | None = None,
    gx_root: Path | str | None = None,
    progress_bars: bool = False,
) -> GateResult:
    """Validate a send list before export; raise GateRefused when it must not leave.

    send_list: campaign_id, customer_id, e164, national_number, segment, group, send_at, message,
      message_chars, message_segments, offer_in_preview (treatment and holdout rows).
    suppressed_e164: opted-out and blacklisted phones (E.164); none may be on the list.
    phone_classes: customer_id -> phone class for the campaign's whole audience before
      exclusions (or None). Every listed customer's class must be sendable, and the share of the
      audience with an invalid phone (INVALID_PHONE_CLASSES) must not exceed
      ``max_invalid_phone_share`` (default var gate_max_invalid_phone_share).
    holdout_share / holdout_share_tolerance / max_segments / allow_virtual: default to the vars
      holdout_share, holdout_share_tolerance, sms_max_segments (1 when not defined) and
      allow_virtual_operator_phones.
    run_id: default '<campaign_id>@<as_of>' when as_of is given, else a uuid.
    warehouse_con: a write connection; the results go to quality.validation_results.
    """
    holdout_share = float(rule("holdout_share") if holdout_share is None else holdout_share)
    if max_invalid_phone_share is None:
        max_invalid_phone_share = float(rule("gate_max_invalid_phone_share"))
    extra = [audience_check(phone_classes, max_invalid_phone_share)] if phone_classes else []
    outcome = run_validation(
        suites.SEND_LIST,
        send_list,
        warehouse_con=warehouse_con,
        run_id=run_id or default_run_id(campaign_id, as_of),
        gx_root=gx_root,
        suite_params={
            "campaign_id": campaign_id,
            "holdout_share": holdout_share,
            "holdout_share_tolerance": holdout_share_tolerance,
            "max_segments": max_segments,
            "allow_virtual": allow_virtual,
            "phone_classes": phone_classes,
            "suppressed_e164": suppressed_e164,
        },
        extra_outcomes=extra,
        progress_bars=progress_bars,
    )
    result = GateResult(
        passed=outcome.passed,
        result_id=outcome.run_id,
        campaign_id=campaign_id,
        rows=outcome.rows,
        warnings=[w.describe() for w in outcome.warnings],
        docs_path=outcome.docs_page or outcome.docs_index,
        docs_index=outcome.docs_index,
        gx_validation_id=outcome.gx_validation_id,
        summary=outcome.summary(),
        failures=[f.describe() for f in outcome.critical_failures],
    )
    if not result.passed:
        message = refusal_message(campaign_id, outcome)
        log.error(message)
        raise GateRefused(message, result)
    return result  # warnings were logged by run_validation
