import pandas as pd
import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from laoke.phones import (
    PHONE_CLASSES,
    PHONE_REASONS,
    PhoneResult,
    mask_phone,
    normalize_phone,
    normalize_phones,
    sendable_classes,
)

MOBILE = ("valid_mobile", None, "+8613812345678", "13812345678")

# raw, phone_class, reason, e164, national
CASES = [
    # Plain and prefixed CN mobiles.
    ("13812345678", *MOBILE),
    ("8613812345678", *MOBILE),
    ("+8613812345678", *MOBILE),
    ("+86 138 1234 5678", *MOBILE),
    ("+86 138-1234-5678", *MOBILE),
    ("0086-138-1234-5678", *MOBILE),
    ("0086 13812345678", *MOBILE),
    ("86-13812345678", *MOBILE),
    ("(+86) 138 1234 5678", *MOBILE),
    ("+86 (0)138 1234 5678", *MOBILE),
    ("0138 1234 5678", *MOBILE),
    # Separators people type.
    ("138 1234 5678", *MOBILE),
    ("138-1234-5678", *MOBILE),
    ("138.1234.5678", *MOBILE),
    ("(138)1234-5678", *MOBILE),
    ("138—1234—5678", *MOBILE),
    # Full-width digits, plus, space.
    ("１３８１２３４５６７８", *MOBILE),
    ("＋８６　１３８１２３４５６７８", *MOBILE),
    ("＋８６－１３８－１２３４－５６７８", *MOBILE),
    # Whitespace and text around the number.
    ("  13812345678\t", *MOBILE),
    ("13812345678 (mobile)", *MOBILE),
    ("13812345678转8", *MOBILE),
    ("13812345678 ext. 2", *MOBILE),
    ("手机：13812345678", *MOBILE),
    ("'13812345678", *MOBILE),  # Excel's force-text apostrophe
    ("13812345678/13912345678", *MOBILE),  # two phones: the first is kept
    ("13812345678.0", *MOBILE),  # a float column written back as text
    # a dot that separates digit groups, not a float's: found by the decoration property below
    ("00861381234.0000", "valid_mobile", None, "+8613812340000", "13812340000"),
    ("86138123400.00", "valid_mobile", None, "+8613812340000", "13812340000"),
    # Other valid mobile ranges.
    ("19912345678", "valid_mobile", None, "+8619912345678", "19912345678"),
    ("19212345678", "valid_mobile", None, "+8619212345678", "19212345678"),
    ("14512345678", "valid_mobile", None, "+8614512345678", "14512345678"),
    # Virtual operators (MVNO ranges).
    ("17012345678", "virtual_operator", "virtual_operator", "+8617012345678", "17012345678"),
    ("171 1234 5678", "virtual_operator", "virtual_operator", "+8617112345678", "17112345678"),
    ("+86 16212345678", "virtual_operator", "virtual_operator", "+8616212345678", "16212345678"),
    ("16512345678", "virtual_operator", "virtual_operator", "+8616512345678", "16512345678"),
    ("16712345678", "virtual_operator", "virtual_operator", "+8616712345678", "16712345678"),
    # Landlines and service numbers.
    ("0571-88886666", "landline", "landline", "+8657188886666", "57188886666"),
    ("010 8888 6666", "landline", "landline", "+861088886666", "1088886666"),
    ("(021)6888-6666", "landline", "landline", "+862168886666", "2168886666"),
    ("+86 571 88886666", "landline", "landline", "+8657188886666", "57188886666"),
    ("0571-88886666转801", "landline", "landline", "+8657188886666", "57188886666"),
    ("400-812-3123", "landline", "service_number", "+864008123123", "4008123123"),
    ("800 812 3123", "landline", "service_number", "+868008123123", "8008123123"),
    ("88886666", "landline", "invalid_landline", "+8688886666", "88886666"),
    ("0571-8888666", "landline", "invalid_landline", "+865718888666", "5718888666"),
    # Not China.
    ("+1 650 253 0000", "non_cn", "non_cn_country", "+16502530000", "6502530000"),
    ("+852 2123 4567", "non_cn", "non_cn_country", "+85221234567", "21234567"),
    ("+852 9123 4567", "non_cn", "non_cn_country", "+85291234567", "91234567"),
    ("001-650-253-0000", "non_cn", "non_cn_country", "+16502530000", "6502530000"),
    ("+999 1234567", "non_cn", "unknown_country_code", None, None),
    # Mobile-shaped but not a mobile range.
    ("12012345678", "invalid_prefix", "bad_prefix", "+8612012345678", "12012345678"),
    ("10012345678", "invalid_prefix", "bad_prefix", "+8610012345678", "10012345678"),
    ("14612345678", "invalid_prefix", "bad_prefix", "+8614612345678", "14612345678"),
    ("17912345678", "invalid_prefix", "bad_prefix", "+8617912345678", "17912345678"),
    # Wrong length.
    ("1381234", "invalid_length", "too_short", "+861381234", "1381234"),
    ("138123456789", "invalid_length", "too_long", "+86138123456789", "138123456789"),
    ("+86 138 1234 567", "invalid_length", "too_short", "+861381234567", "1381234567"),
    ("95588", "invalid_length", "too_short", "+8695588", "95588"),
    ("13812345678 13912345678", "invalid_length", "too_long", None, None),
    ("0086", "invalid_length", "too_short", None, None),
    # Not a number at all.
    ("abc", "invalid_length", "not_a_number", None, None),
    ("n/a", "invalid_length", "not_a_number", None, None),
    ("无", "invalid_length", "not_a_number", None, None),
    ("1.38123457E+10", "invalid_length", "scientific_notation", None, None),
    # Missing.
    (None, "missing", "missing", None, None),
    ("", "missing", "missing", None, None),
    ("   ", "missing", "missing", None, None),
    ("\u3000", "missing", "missing", None, None),
]


@pytest.mark.parametrize(("raw", "phone_class", "reason", "e164", "national"), CASES)
def test_normalize_phone_shapes(raw, phone_class, reason, e164, national):
    result = normalize_phone(raw)
    assert (result.phone_class, result.reason, result.e164, result.national) == (phone_class, reason, e164, national)
    assert result.raw == raw


def test_cases_cover_every_class_and_reason():
    seen = {(c[1], c[2]) for c in CASES}
    expected = {(cls, reason) for cls, reasons in PHONE_REASONS.items() for reason in reasons}
    assert seen == expected
    assert set(PHONE_CLASSES) == set(PHONE_REASONS)


@pytest.mark.parametrize("raw", [13812345678, 13812345678.0])
def test_numeric_input_reads_the_digits(raw):
    result = normalize_phone(raw)
    assert (result.phone_class, result.e164, result.raw) == ("valid_mobile", "+8613812345678", "13812345678")


@pytest.mark.parametrize("raw", [float("nan"), pd.NA])
def test_nan_is_missing(raw):
    assert normalize_phone(raw) == PhoneResult(None, None, None, "missing", "missing")


def test_region_reads_numbers_without_country_code():
    hk = normalize_phone("9123 4567", region="HK")
    assert (hk.phone_class, hk.e164) == ("non_cn", "+85291234567")
    cn = normalize_phone("+86 138 1234 5678", region="HK")
    assert (cn.phone_class, cn.e164) == ("valid_mobile", "+8613812345678")


def test_sendable():
    assert normalize_phone("13812345678").is_sendable
    virtual = normalize_phone("17012345678")
    assert virtual.is_sendable
    assert virtual.sendable(allow_virtual=True)
    assert not virtual.sendable(allow_virtual=False)
    for raw in ("0571-88886666", "12012345678", "1381234", "+1 650 253 0000", None, "abc"):
        assert not normalize_phone(raw).is_sendable
    assert sendable_classes(allow_virtual=False) == ("valid_mobile",)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("57188886666", "571****6666"),
        ("138123456789", "138*****6789"),
        ("+85291234567", "****4567"),
        ("1088886666", "******6666"),
        ("1381234", "*******"),
        ("95588", "*****"),
        (None, None),
        ("", None),
        ("abc", None),
    ],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


def test_normalize_phones_one_row_per_distinct_value():
    values = ["13812345678", "+86 138 1234 5678", "13812345678", None, "abc", float("nan"), "", "0571-88886666", "abc"]
    df = normalize_phones(values)
    assert list(df.columns) == ["raw", "e164", "national", "phone_class", "reason"]
    assert list(df["raw"]) == ["", "+86 138 1234 5678", "0571-88886666", "13812345678", "abc", None]
    assert df["raw"].is_unique
    by_raw = {row.raw: row for row in df.itertuples(index=False)}
    assert by_raw["13812345678"].e164 == by_raw["+86 138 1234 5678"].e164 == "+8613812345678"
    assert by_raw[None].phone_class == "missing"
    assert by_raw["abc"].e164 is None
    for row in df.itertuples(index=False):
        assert (row.e164, row.national, row.phone_class, row.reason) == (
            normalize_phone(row.raw).e164,
            normalize_phone(row.raw).national,
            normalize_phone(row.raw).phone_class,
            normalize_phone(row.raw).reason,
        )


def test_normalize_phones_empty():
    df = normalize_phones([])
    assert len(df) == 0
    assert list(df.columns) == ["raw", "e164", "national", "phone_class", "reason"]


# ---- property: decoration never changes the number --------------------------------------------

_FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")
# Three-digit prefixes that hold valid mobiles (and two MVNO ones); the last 8 digits are free.
_MOBILE_PREFIXES = ["130", "135", "138", "139", "150", "152", "158", "166", "170", "171", "176", "180", "186", "188", "191", "198", "199"]


@st.composite
def valid_mobiles(draw):
    national = draw(st.sampled_from(_MOBILE_PREFIXES)) + draw(st.text("0123456789", min_size=8, max_size=8))
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
    assume(phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE)
    return national


@st.composite
def decorated(draw, national):
    cuts = sorted(draw(st.sets(st.integers(1, 10), max_size=4)))
    groups = [national[a:b] for a, b in zip([0, *cuts], [*cuts, 11])]
    text = groups[0]
    for group in groups[1:]:
        text += draw(st.sampled_from(["", " ", "-", ".", "\u3000", " - "])) + group
    if draw(st.booleans()):
        text = f"({text[:3]}){text[3:]}"
    text = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "86 ", "(+86) "])) + text
    if draw(st.booleans()):
        text = text.translate(_FULL_WIDTH)
    text += draw(st.sampled_from(["", " ", " (mobile)", "转8", " 手机", "#"]))
    return draw(st.sampled_from(["", " ", "\t", "'"])) + text


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_decoration_gives_the_same_e164(data):
    national = data.draw(valid_mobiles())
    raw = data.draw(decorated(national))
    plain = normalize_phone(national)
    result = normalize_phone(raw)
    assert result.e164 == plain.e164 == "+86" + national
    assert result.national == national
    assert result.phone_class == plain.phone_class
    assert result.phone_class in ("valid_mobile", "virtual_operator")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_never_raises_and_reason_matches_class(raw):
    result = normalize_phone(raw)
    assert result.phone_class in PHONE_CLASSES
    assert result.reason in PHONE_REASONS[result.phone_class]
    assert (result.e164 is None) == (result.national is None)
    if result.e164 is not None:
        assert result.e164.startswith("+") and result.e164[1:].isdigit()
