"""The Great Expectations suites laoke validates with, built in code.

Three suites, each a function of its parameters only (same arguments -> same suite):

- ``customers``: the analyst-facing table ``main.customers`` (no raw phone may leak to analysts).
- ``phone_numbers``: ``raw.phone_numbers``, the normalised form of every phone a store exported.
- ``send_list``: the send list being exported, before it leaves (the gate in quality.gate).

Every expectation carries ``meta = {"critical": bool, "check": <short id>, "label": <what it
means, in a sentence fragment>}``. A failed critical expectation refuses an export; a failed
non-critical one is a warning. ``check`` is what code and tests match on, ``label`` is what a
refusal message prints.

GX 1.x works on pandas here (its SQL data source cannot validate DuckDB tables), so each suite
comes with ``prepare_frame``: the few derived columns an expectation needs (the UCS-2 length of a
message, a 0/1 holdout flag, a phone's class) and dtype fixes (DATE columns as datetime64, since
GX compares ``between`` bounds with the column's Python values and a ``date`` never compares with
a ``Timestamp``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any, Iterable, Mapping

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.row_conditions import Column

from laoke.phones import PHONE_CLASSES, normalize_phone, sendable_classes
from laoke.settings import rule

CUSTOMERS = "customers"
PHONE_NUMBERS = "phone_numbers"
SEND_LIST = "send_list"
SUITE_NAMES = (CUSTOMERS, PHONE_NUMBERS, SEND_LIST)

# A CN mobile as E.164 and as a national number (every mobile range starts 13-19).
CN_MOBILE_E164 = r"^\+861[3-9]\d{9}$"
CN_MOBILE_NATIONAL = r"^1[3-9]\d{9}$"
# A mobile as laoke.phones.mask_phone shows it.
MASKED_MOBILE = r"^\d{3}\*{4}\d{4}$"
# Any output of mask_phone: at least four digits hidden, at most seven shown (landlines keep the
# last four: '******0898'; numbers under eight digits are hidden whole: '*******').
MASKED_ANY = r"^(?:\d{3}\*{4,}\d{4}|\*{4,}\d{4}|\*{1,7})$"
# An unmasked mobile anywhere in a value (not part of a longer digit run): '13812345678',
# '+8613812345678', 'tel 138 1234 5678' is not matched (spaces), which normalisation never writes.
RAW_MOBILE_ANYWHERE = r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)"
SIGNATURE = r"【[^【】]+】"
SEND_GROUPS = ("treatment", "holdout")
LIFECYCLE_STATUSES = ("prospect", "new", "active", "one_time", "sleeping", "churned")

# The opted-out / blacklisted phones reach the send_list suite as a run-time expectation parameter
# ({"$PARAMETER": ...}), so the suite is the same for every list. GX writes a parameter's value
# into every stored result and Data Docs page, so the value is not the raw set: prepare_frame
# keeps the suppressed phones that are on the list (the only ones the check can hit; 50,000
# opt-outs in each result made 3 MB pages and 7-12 s runs) and replaces every phone, in the set and
# in the frame's e164_key column, by a keyed hash whose key lives for one run only.
SUPPRESSED_PARAMETER = "suppressed_e164_keys"

# Derived columns prepare_frame adds to a send list.
UCS2_CHARS = "message_ucs2_chars"
IS_HOLDOUT = "is_holdout"
PHONE_CLASS = "phone_class"
E164_KEY = "e164_key"


def rule_or(name: str, default: Any) -> Any:
    """A dbt var's value, or ``default`` when dbt_project.yml does not define it (yet)."""
    try:
        return rule(name)
    except KeyError:
        return default


def _meta(check: str, label: str, critical: bool) -> dict[str, Any]:
    return {"critical": critical, "check": check, "label": label}


def _suite(name: str, expectations: list) -> gx.ExpectationSuite:
    """An ExpectationSuite built in one call.

    Built with the constructor, not add_expectation: add_expectation asks the *current* GX
    context whether the suite was saved (and fails with no context), while the constructor needs
    none. The constructor logs and drops an invalid expectation instead of raising, so the count is
    checked here.
    """
    checks = [e.meta["check"] for e in expectations]
    if len(set(checks)) != len(checks):
        raise ValueError(f"suite {name}: duplicate check names {checks}")
    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    if len(suite.expectations) != len(expectations):
        raise ValueError(f"suite {name}: GX dropped {len(expectations) - len(suite.expectations)} invalid expectation(s)")
    return suite


def max_message_chars(max_segments: int) -> int:
    """UCS-2 characters that fit in max_segments SMS: 70 for one, 67 a part for a long SMS."""
    if max_segments < 1:
        raise ValueError(f"max_segments must be at least 1, not {max_segments}")
    single = int(rule("sms_single_chars"))
    return single if max_segments == 1 else int(rule("sms_part_chars")) * max_segments


def ucs2_length(text: Any) -> int | None:
    """Characters as an SMS gateway counts them in UCS-2 (an emoji outside the BMP counts 2)."""
    if text is None or (isinstance(text, float) and pd.isna(text)) or text is pd.NA:
        return None
    return len(str(text).encode("utf-16-le")) // 2


# --- customers ----------------------------------------------------------------------------------


def customers_suite(
    columns: Iterable[str],
    *,
    as_of: dt.date | None = None,
    max_registered_after_share: float | None = None,
) -> gx.ExpectationSuite:
    """Suite for main.customers. ``columns`` are the table's columns (each is checked for raw phones)."""
    as_of = as_of or dt.date.today()
    if max_registered_after_share is None:
        max_registered_after_share = float(rule_or("registered_after_first_order_max_share", 0.05))
    mobile_classes = list(sendable_classes(allow_virtual=True))
    expectations: list = []
    add = expectations.append
    add(gxe.ExpectColumnValuesToNotBeNull(
        column="customer_id", meta=_meta("customer_id_not_null", "customer_id is missing", True)))
    add(gxe.ExpectColumnValuesToBeUnique(
        column="customer_id", meta=_meta("customer_id_unique", "customer_id is not unique", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="masked_phone", regex=MASKED_ANY,
        meta=_meta("masked_phone_shape", "masked_phone is not a masked phone", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="masked_phone", regex=MASKED_MOBILE, row_condition=Column("phone_class").is_in(mobile_classes),
        meta=_meta("masked_mobile_shape", "a mobile's masked_phone is not shaped 138****5678", True)))
    for column in sorted(columns):
        add(gxe.ExpectColumnValuesToNotMatchRegex(
            column=column, regex=RAW_MOBILE_ANYWHERE,
            meta=_meta(f"no_raw_phone:{column}", f"raw mobile number in column {column}", True)))
    add(gxe.ExpectColumnValuesToBeInSet(
        column="phone_class", value_set=list(PHONE_CLASSES),
        meta=_meta("phone_class_known", "unknown phone_class", True)))
    add(gxe.ExpectColumnValuesToBeBetween(
        column="birthday",
        # datetime bounds: prepare_frame turns DATE columns into datetime64 (see the module doc).
        min_value=dt.datetime(int(rule("min_birth_year")), 1, 1),
        max_value=dt.datetime.combine(as_of, dt.time()),
        meta=_meta("birthday_range", f"birthday before {rule('min_birth_year')}-01-01 or after as_of {as_of}", True)))
    add(gxe.ExpectColumnValuesToBeInSet(
        column="lifecycle_status", value_set=list(LIFECYCLE_STATUSES),
        meta=_meta("lifecycle_status_known", "unknown lifecycle_status", False)))
    # Share of True below the threshold == share of False at least 1 - threshold.
    add(gxe.ExpectColumnValuesToBeInSet(
        column="registered_after_first_order", value_set=[False], mostly=round(1.0 - max_registered_after_share, 10),
        meta=_meta("registered_after_first_order_share",
                   f"more than {max_registered_after_share:.0%} of customers registered after their first order",
                   False)))
    return _suite(CUSTOMERS, expectations)


# --- phone_numbers ------------------------------------------------------------------------------


def phone_numbers_suite() -> gx.ExpectationSuite:
    """Suite for raw.phone_numbers (one row per distinct raw phone text)."""
    mobile = Column("phone_class").is_in(list(sendable_classes(allow_virtual=True)))
    expectations: list = []
    add = expectations.append
    add(gxe.ExpectColumnValuesToBeUnique(
        column="raw_phone", meta=_meta("raw_phone_unique", "raw_phone is not unique", True)))
    add(gxe.ExpectColumnValuesToNotBeNull(
        column="phone_class", meta=_meta("phone_class_not_null", "phone_class is missing", True)))
    add(gxe.ExpectColumnValuesToBeInSet(
        column="phone_class", value_set=list(PHONE_CLASSES),
        meta=_meta("phone_class_known", "unknown phone_class", True)))
    add(gxe.ExpectColumnValuesToNotBeNull(
        column="e164", row_condition=mobile,
        meta=_meta("mobile_e164_present", "a mobile has no e164", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="e164", regex=CN_MOBILE_E164, row_condition=mobile,
        meta=_meta("mobile_e164_pattern", "a mobile's e164 is not +861[3-9] and 9 digits", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="national_number", regex=CN_MOBILE_NATIONAL, row_condition=mobile,
        meta=_meta("mobile_national_pattern", "a mobile's national_number is not 1[3-9] and 9 digits", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="masked_phone", regex=MASKED_ANY,
        meta=_meta("masked_phone_shape", "masked_phone is not a masked phone", True)))
    return _suite(PHONE_NUMBERS, expectations)


# --- send_list ----------------------------------------------------------------------------------


def send_list_suite(
    *,
    campaign_id: str | None = None,
    holdout_share: float | None = None,
    holdout_share_tolerance: float | None = None,
    max_segments: int | None = None,
    allow_virtual: bool | None = None,
    with_phone_class: bool = False,
    preview_chars: int | None = None,
    list_size: int | None = None,
) -> gx.ExpectationSuite:
    """Suite for a send list (one campaign's rows, treatment and holdout).

    The opted-out / blacklisted phones are the run-time parameter ``suppressed_e164_keys``, checked
    against the frame's ``e164_key`` column (both made by prepare_frame: see SUPPRESSED_PARAMETER).
    ``with_phone_class``: the frame has a ``phone_class`` column (prepare_frame adds it when the
    caller knows each customer's class); every row's class must then be sendable.
    """
    holdout_share = float(rule("holdout_share") if holdout_share is None else holdout_share)
    tolerance = float(rule("holdout_share_tolerance") if holdout_share_tolerance is None else holdout_share_tolerance)
    max_segments = int(rule_or("sms_max_segments", 1) if max_segments is None else max_segments)
    allow_virtual = bool(rule("allow_virtual_operator_phones") if allow_virtual is None else allow_virtual)
    preview_chars = int(rule("sms_preview_chars") if preview_chars is None else preview_chars)
    max_chars = max_message_chars(max_segments)
    single_chars = int(rule("sms_single_chars"))
    if list_size:
        # A hash split of n members has binomial noise: a 13-member list cannot hold 10% +- 2%.
        # The tolerance is the configured one or three standard errors, whichever is wider.
        tolerance = max(tolerance, 3 * (holdout_share * (1 - holdout_share) / list_size) ** 0.5)
    low, high = max(0.0, holdout_share - tolerance), min(1.0, holdout_share + tolerance)

    expectations: list = []
    add = expectations.append
    add(gxe.ExpectTableRowCountToBeBetween(
        min_value=1, meta=_meta("has_rows", "the send list is empty", True)))
    if campaign_id is not None:
        add(gxe.ExpectColumnValuesToBeInSet(
            column="campaign_id", value_set=[campaign_id],
            meta=_meta("one_campaign", f"row of another campaign than {campaign_id}", True)))
    add(gxe.ExpectColumnValuesToNotBeNull(
        column="e164", meta=_meta("phone_present", "row without a phone", True)))
    add(gxe.ExpectCompoundColumnsToBeUnique(
        column_list=["campaign_id", "e164"],
        meta=_meta("duplicate_phone", "duplicate phone (the same e164 twice in the campaign)", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="e164", regex=CN_MOBILE_E164,
        meta=_meta("valid_mobile", "phone is not a valid CN mobile (+861[3-9] and 9 digits)", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="national_number", regex=CN_MOBILE_NATIONAL,
        meta=_meta("valid_mobile_national", "national_number is not a valid CN mobile", True)))
    if with_phone_class:
        add(gxe.ExpectColumnValuesToNotBeNull(
            column=PHONE_CLASS, meta=_meta("phone_class_known", "customer without a known phone class", True)))
        add(gxe.ExpectColumnValuesToBeInSet(
            column=PHONE_CLASS, value_set=list(sendable_classes(allow_virtual)),
            meta=_meta("sendable_phone_class",
                       f"phone class is not sendable ({', '.join(sendable_classes(allow_virtual))})", True)))
    add(gxe.ExpectColumnValuesToNotBeInSet(
        column=E164_KEY, value_set={"$PARAMETER": SUPPRESSED_PARAMETER},
        meta=_meta("opted_out", "opted-out or blacklisted phone", True)))
    add(gxe.ExpectColumnValuesToBeBetween(
        column=UCS2_CHARS, min_value=1, max_value=max_chars,
        meta=_meta("message_too_long", f"message too long (over {max_chars} characters, {max_segments} SMS)", True)))
    add(gxe.ExpectColumnValuesToBeBetween(
        column="message_segments", min_value=1, max_value=max_segments,
        meta=_meta("message_segments", f"message over {max_segments} SMS segment(s)", True)))
    # The store's configured opt-out line (opt_out_footer), which laoke.messages appends.
    footer = str(rule("opt_out_footer"))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="message", regex=re.escape(footer),
        meta=_meta("opt_out_line", f"message without the opt-out line {footer}", True)))
    add(gxe.ExpectColumnValuesToMatchRegex(
        column="message", regex=SIGNATURE,
        meta=_meta("signature", "message without a 【store】 signature", True)))
    add(gxe.ExpectColumnValuesToBeInSet(
        column="group", value_set=list(SEND_GROUPS),
        meta=_meta("group_values", "group is not treatment or holdout", True)))
    add(gxe.ExpectColumnMeanToBeBetween(
        column=IS_HOLDOUT, min_value=round(low, 10), max_value=round(high, 10),
        row_condition=Column("group").is_in(list(SEND_GROUPS)),
        meta=_meta("holdout_share", f"holdout share outside {holdout_share:.0%} ± {tolerance:.0%}", True)))
    # Warnings: they pass, and the operator sees them.
    add(gxe.ExpectColumnValuesToBeInSet(
        column="offer_in_preview", value_set=[True],
        meta=_meta("offer_in_preview", f"offer not in the first {preview_chars} characters", False)))
    if max_segments > 1:
        add(gxe.ExpectColumnValuesToBeBetween(
            column=UCS2_CHARS, min_value=1, max_value=single_chars,
            meta=_meta("multipart_message", f"multi-part message (over {single_chars} characters)", False)))
    return _suite(SEND_LIST, expectations)


# --- frames -------------------------------------------------------------------------------------


def _dates_as_datetime64(df: pd.DataFrame) -> pd.DataFrame:
    """Columns holding datetime.date objects become datetime64 (GX's between needs one kind)."""
    out = df
    for column in df.columns:
        series = df[column]
        if series.dtype == object:
            sample = series.dropna()
            if len(sample) and all(isinstance(v, dt.date) for v in sample.head(50)):
                if out is df:
                    out = df.copy()
                out[column] = pd.to_datetime(series)
    return out


def _keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _as_e164(phone: Any) -> str | None:
    """E.164 as given, or normalised when a caller passed another shape ('139 0000 0000')."""
    text = str(phone)
    if text.startswith("+") and text[1:].isdigit():
        return text
    return normalize_phone(phone).e164


def prepare_send_list(
    send_list: pd.DataFrame,
    phone_classes: Mapping[str, str] | None = None,
    suppressed_e164: Iterable[str] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The send list with the columns the send_list suite reads, and its expectation parameters.

    Adds ``message_ucs2_chars`` (from ``message``), ``is_holdout`` (1.0 / 0.0; null outside
    treatment/holdout), ``e164_key`` (a keyed hash of e164) and, when ``phone_classes``
    (customer_id -> phone class) is given, ``phone_class`` (null for a customer the mapping does
    not know, which fails the check). The parameters hold the keyed hashes of the suppressed
    phones found on the list (see SUPPRESSED_PARAMETER).
    """
    df = send_list.reset_index(drop=True).copy()
    if "message" in df.columns:
        df[UCS2_CHARS] = pd.array([ucs2_length(m) for m in df["message"]], dtype="Int64")
    if "group" in df.columns:
        group = df["group"].astype(object)
        df[IS_HOLDOUT] = pd.Series(
            [1.0 if g == "holdout" else 0.0 if g == "treatment" else None for g in group], dtype="float64")
    if phone_classes is not None and "customer_id" in df.columns:
        df[PHONE_CLASS] = pd.Series([phone_classes.get(str(c)) for c in df["customer_id"]], dtype=object)
    key = secrets.token_bytes(16)  # for this run only: the stored hashes cannot be reversed or linked
    suppressed = {_as_e164(p) for p in suppressed_e164}
    hits: set[str] = set()
    if "e164" in df.columns:
        phones = [p if isinstance(p, str) else None for p in df["e164"].astype(object)]
        df[E164_KEY] = pd.Series([_keyed_hash(key, p) if p is not None else None for p in phones], dtype=object)
        hits = {p for p in phones if p is not None and p in suppressed}
    return df, {SUPPRESSED_PARAMETER: sorted(_keyed_hash(key, p) for p in hits)}


def prepare_frame(suite_name: str, df: pd.DataFrame, **params: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame a suite validates (derived columns, DATE columns as datetime64, index 0..n-1) and
    the suite's run-time expectation parameters. Send lists take ``phone_classes`` and
    ``suppressed_e164`` from params."""
    parameters: dict[str, Any] = {}
    if suite_name == SEND_LIST:
        df, parameters = prepare_send_list(df, params.get("phone_classes"), params.get("suppressed_e164") or ())
    else:
        df = df.reset_index(drop=True)
    return _dates_as_datetime64(df), parameters


def build_suite(suite_name: str, df: pd.DataFrame, **params: Any) -> gx.ExpectationSuite:
    """The suite named ``suite_name`` for the (prepared) frame ``df`` and the given parameters."""
    if suite_name == CUSTOMERS:
        return customers_suite(df.columns, as_of=params.get("as_of"),
                               max_registered_after_share=params.get("max_registered_after_share"))
    if suite_name == PHONE_NUMBERS:
        return phone_numbers_suite()
    if suite_name == SEND_LIST:
        return send_list_suite(
            campaign_id=params.get("campaign_id"),
            holdout_share=params.get("holdout_share"),
            holdout_share_tolerance=params.get("holdout_share_tolerance"),
            max_segments=params.get("max_segments"),
            allow_virtual=params.get("allow_virtual"),
            with_phone_class=PHONE_CLASS in df.columns,
            preview_chars=params.get("preview_chars"),
            list_size=int(df["group"].isin(list(SEND_GROUPS)).sum()) if "group" in df.columns else None,
        )
    raise ValueError(f"unknown suite {suite_name!r}: one of {', '.join(SUITE_NAMES)}")


# The column(s) that name a row in a refusal message (never a raw phone: phones are masked).
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS: ("customer_id", "masked_phone"),
    PHONE_NUMBERS: ("masked_phone",),
    SEND_LIST: ("customer_id", "e164"),
}
