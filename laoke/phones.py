"""Phone normalisation: the one place laoke reads a phone number.

Customers, opt-outs, sends and receipts carry phones in whatever shape a store exported. Every
reader calls normalize_phone(s), so the same text always gets the same E.164 key and the same
class, and validity comes from libphonenumber's metadata rather than hand-written patterns.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

import pandas as pd
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberType

# Each class with the reasons it can carry; reason is None only for valid_mobile.
PHONE_REASONS: dict[str, tuple[str | None, ...]] = {
    "valid_mobile": (None,),
    # A valid mobile in an MVNO range (VIRTUAL_OPERATOR_PREFIXES); sendable unless a store opts out.
    "virtual_operator": ("virtual_operator",),
    # 'service_number': valid 400 / 800 / 95xxx-style numbers, which take no SMS.
    # 'invalid_landline': an area-code or local-number shape that libphonenumber rejects.
    "landline": ("landline", "service_number", "invalid_landline"),
    # 'scientific_notation': '1.38123457E+10' from Excel, whose lost digits could be a stranger's.
    "invalid_length": ("too_short", "too_long", "not_a_number", "scientific_notation"),
    # 11 digits starting with 1, but no mobile range starts that way ('12012345678').
    "invalid_prefix": ("bad_prefix",),
    "non_cn": ("non_cn_country", "unknown_country_code"),
    "missing": ("missing",),
}
PHONE_CLASSES = tuple(PHONE_REASONS)


def sendable_classes(allow_virtual: bool = True) -> tuple[str, ...]:
    """The phone classes an SMS may go to (for filtering a normalize_phones frame or a table)."""
    return ("valid_mobile", "virtual_operator") if allow_virtual else ("valid_mobile",)

# libphonenumber reports these ranges as ordinary MOBILE numbers and its carrier data names the
# host network (170 -> China Telecom, 171/167 -> China Unicom, nothing for 162/165), so it cannot
# tell a virtual operator (虚拟运营商) apart. These are the MIIT-assigned MVNO prefixes.
VIRTUAL_OPERATOR_PREFIXES = ("162", "165", "167", "170", "171")

_CN = 86
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
# Toll-free (800), shared-cost (400, 95xxx) and the like are valid numbers that cannot take SMS.
_SERVICE_TYPES = (
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.UAN,
    PhoneNumberType.VOIP,
    PhoneNumberType.PAGER,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.VOICEMAIL,
)

# The part of the text that can be a phone: an optional '+' and '(', then digits with the
# separators people type. Anything else (letters, 转, #, ext, a second number after '/') ends it,
# so '13812345678 (mobile)' and '13812345678转8' keep only the number. Letters must not reach
# phonenumbers: it reads them as keypad digits ('mobile' -> 662453).
_PHONE_RUN = re.compile(r"\+?[(\[\s]*[0-9][0-9\s().\[\]\-\u2010-\u2015\u2212]*")
_TRAILING_NON_DIGITS = re.compile(r"[^0-9]+$")
_NOT_DIGIT_OR_PLUS = re.compile(r"[^0-9+]")
# '13812345678.0': a phone column once read as a float and written back as text. Only 11+ digits
# before the '.0': '1381234567.0' is more likely a mobile written 1381234567.0 with a dot. And
# not when the dot reads as a separator of a CN mobile: '00861300000.0000' is 13000000000.
_FLOAT_TEXT = re.compile(r"([0-9]{11,})\.0+")
# '1.38123457E+10': Excel already rounded the digits away, so any number read from it may be a
# stranger's. Reject it rather than send to a wrong number.
_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+")
# The shape nearly every real row has: a CN mobile with an optional +86 / 0086 / 86 prefix.
# Built directly so phonenumbers' carrier-code stripping (17951..., 125xx...) never rewrites it.
_CN_MOBILE_SHAPE = re.compile(r"(?:\+86|0086|86)?(1[0-9]{10})")
_CN_MOBILE_SHAPE_PLUS = re.compile(r"\+86(1[0-9]{10})")


@dataclass(frozen=True)
class PhoneResult:
    raw: str | None
    e164: str | None
    national: str | None
    phone_class: str
    reason: str | None

    def sendable(self, allow_virtual: bool = True) -> bool:
        """Whether an SMS may go to this number.

        Virtual-operator numbers are real mobiles and receive SMS, so they are sendable by default;
        a store that excludes MVNO ranges (a common anti-fraud rule) passes allow_virtual=False.
        """
        return self.phone_class in sendable_classes(allow_virtual)

    @property
    def is_sendable(self) -> bool:
        """sendable() with the default allow_virtual=True."""
        return self.sendable()


def _is_missing(raw: Any) -> bool:
    if raw is None or raw is pd.NA:
        return True
    return isinstance(raw, float) and math.isnan(raw)


def _as_text(raw: Any) -> str:
    # A phone column read as numbers arrives as int or float; 13812345678.0 is exact in a float.
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return raw if isinstance(raw, str) else str(raw)


def _result(raw: str, number: PhoneNumber | None, phone_class: str, reason: str | None) -> PhoneResult:
    if number is None:
        return PhoneResult(raw, None, None, phone_class, reason)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.national_significant_number(number)
    return PhoneResult(raw, e164, national, phone_class, reason)


def _classify_cn(raw: str, number: PhoneNumber) -> PhoneResult:
    nsn = phonenumbers.national_significant_number(number)
    # +86 is one region, so number_type() is UNKNOWN exactly when is_valid_number() is False;
    # asking once halves the cost (both run the same pattern matching).
    number_type = phonenumbers.number_type(number)
    if number_type != PhoneNumberType.UNKNOWN:
        if number_type in _MOBILE_TYPES:
            if nsn.startswith(VIRTUAL_OPERATOR_PREFIXES):
                return _result(raw, number, "virtual_operator", "virtual_operator")
            return _result(raw, number, "valid_mobile", None)
        if number_type == PhoneNumberType.FIXED_LINE:
            return _result(raw, number, "landline", "landline")
        if number_type in _SERVICE_TYPES:
            return _result(raw, number, "landline", "service_number")
    if nsn.startswith("1"):
        # Mobile-shaped: every CN mobile is 11 digits starting with 1.
        if len(nsn) == 11:
            return _result(raw, number, "invalid_prefix", "bad_prefix")
        return _result(raw, number, "invalid_length", "too_short" if len(nsn) < 11 else "too_long")
    # Landline-shaped (an area code, or a local number without one). Not a mobile whatever the
    # exact fault, so it is a landline unless its length rules out any fixed line.
    possible = phonenumbers.is_possible_number_for_type_with_reason(number, PhoneNumberType.FIXED_LINE)
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return _result(raw, number, "invalid_length", "too_long")
    if possible in (phonenumbers.ValidationResult.TOO_SHORT, phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        # Local-only here means 5-6 digits: a short code (95588, 12345), not a subscriber line.
        return _result(raw, number, "invalid_length", "too_short")
    return _result(raw, number, "landline", "invalid_landline")


_PARSE_ERROR_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: ("non_cn", "unknown_country_code"),
    NumberParseException.TOO_SHORT_AFTER_IDD: ("invalid_length", "too_short"),
    NumberParseException.TOO_SHORT_NSN: ("invalid_length", "too_short"),
    NumberParseException.TOO_LONG: ("invalid_length", "too_long"),
}


def _normalize_text(raw: str, region: str) -> PhoneResult:
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return PhoneResult(raw, None, None, "missing", "missing")
    if _SCIENTIFIC.fullmatch(text):
        return PhoneResult(raw, None, None, "invalid_length", "scientific_notation")
    float_text = _FLOAT_TEXT.fullmatch(text)
    if float_text and not _CN_MOBILE_SHAPE.fullmatch(text.replace(".", "")):
        text = float_text.group(1)
    run = _PHONE_RUN.search(text)
    if run is None:
        return PhoneResult(raw, None, None, "invalid_length", "not_a_number")
    candidate = _TRAILING_NON_DIGITS.sub("", run.group())

    digits = _NOT_DIGIT_OR_PLUS.sub("", candidate)
    shape = (_CN_MOBILE_SHAPE if region == "CN" else _CN_MOBILE_SHAPE_PLUS).fullmatch(digits)
    if shape:
        return _classify_cn(raw, PhoneNumber(country_code=_CN, national_number=int(shape.group(1))))

    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException as exc:
        phone_class, reason = _PARSE_ERROR_REASONS.get(exc.error_type, ("invalid_length", "too_short"))
        return PhoneResult(raw, None, None, phone_class, reason)
    if number.country_code != _CN:
        return _result(raw, number, "non_cn", "non_cn_country")
    return _classify_cn(raw, number)


# Row-by-row callers (loaders, checks) see the same few phones again and again.
_normalize_text_cached = lru_cache(maxsize=4096)(_normalize_text)


def normalize_phone(raw: Any, region: str = "CN") -> PhoneResult:
    """Normalise one phone as written in a source file.

    ``region`` is only how a number without a country code is read; the classes are about China
    either way (any country code other than +86 is non_cn). Ints and integral floats (a phone
    column read as numbers) are read as their digits; None, NaN, '' and whitespace are missing.
    """
    if _is_missing(raw):
        return PhoneResult(None, None, None, "missing", "missing")
    return _normalize_text_cached(_as_text(raw), region)


_COLUMNS = ["raw", "e164", "national", "phone_class", "reason"]


def normalize_phones(values: Iterable[Any], region: str = "CN") -> pd.DataFrame:
    """One row per distinct raw value (columns raw, e164, national, phone_class, reason), sorted by
    raw with the missing value last. Join it back to the source on raw."""
    distinct: set[str] = set()
    has_missing = False
    for value in values:
        if _is_missing(value):
            has_missing = True
        else:
            distinct.add(_as_text(value))
    # Each distinct value is parsed once; the set is the cache.
    rows = [_normalize_text(text, region) for text in sorted(distinct)]
    if has_missing:
        rows.append(PhoneResult(None, None, None, "missing", "missing"))
    return pd.DataFrame(
        {
            "raw": [r.raw for r in rows],
            "e164": [r.e164 for r in rows],
            "national": [r.national for r in rows],
            "phone_class": [r.phone_class for r in rows],
            "reason": [r.reason for r in rows],
        },
        columns=_COLUMNS,
        dtype=object,
    )


def mask_phone(national_or_e164: str | None) -> str | None:
    """Mask a phone for display: '13812345678' or '+8613812345678' -> '138****5678'.

    At least four digits are always hidden and at most seven shown: 11+ digits keep the first 3
    and last 4; 8-10 digits keep the last 4; fewer are masked entirely.
    """
    if _is_missing(national_or_e164):
        return None
    text = unicodedata.normalize("NFKC", _as_text(national_or_e164)).strip()
    if text.startswith("+"):
        try:
            digits = phonenumbers.national_significant_number(phonenumbers.parse(text, None))
        except NumberParseException:
            digits = re.sub(r"[^0-9]", "", text)
    else:
        digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        return None
    n = len(digits)
    if n >= 11:
        return digits[:3] + "*" * (n - 7) + digits[-4:]
    if n >= 8:
        return "*" * (n - 4) + digits[-4:]
    return "*" * n
