"""Messages rendered for a whole list at once are the ones the per-recipient renderer gives; a
field without a value renders like None; the customer's text never decides the signature or the
opt-out line; control characters never reach a message."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laoke.messages import UNSAFE_CHARACTERS, field_text, render, render_rows, sms_segments
from laoke.settings import rule

STORE, FOOTER, SINGLE, PART, PREVIEW = "老客美妆", "回T退订", 70, 67, 20
MISSING = [None, np.nan, pd.NA, pd.NaT, float("nan"), "", "   ", "\u3000", "\t\n", "\x1c"]
UNSAFE = "".join(["\x00", "\x08", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85", "\ufffe"])


def reference_render(template: str, fields: dict, offer: str | None) -> tuple[str, int, int, bool]:
    """The per-recipient renderer, one format_map per message, written from the rules:

    - a field without a value (None, NaN, NA, blank) renders empty, but a name renders the
      missing_name_text rule (亲), given or not; a value loses its control
      characters, its whitespace runs become one space, none at either end;
    - the signature and the opt-out line are added unless the operator's text (the template with
      the campaign's fields: coupon, store, offer) has them, whatever the customer's fields say;
    - the length is in UCS-2 characters (an emoji counts 2)."""

    class Blank(dict):
        def __missing__(self, key):
            return ""

    def text_of(value) -> str:
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return ""
        return " ".join(re.sub(UNSAFE_CHARACTERS.pattern, "", str(value)).split())

    template = re.sub(UNSAFE_CHARACTERS.pattern, "", template)
    values = {k: text_of(v) for k, v in fields.items()}
    values["store"] = values.get("store") or STORE
    values["offer"] = values.get("offer") or text_of(offer)
    values["name"] = values.get("name") or rule("missing_name_text")
    campaign_fields = {k: v for k, v in values.items() if k in ("coupon", "store", "offer")}
    operators = template.format_map(Blank(campaign_fields, **{k: "\x00" for k in values if k not in campaign_fields}))
    text = template.format_map(Blank(values)).strip()
    signature = f"【{values['store']}】"
    if not (operators.strip().startswith(signature) and text.startswith(signature)):
        text = signature + text
    if not (FOOTER in operators and FOOTER in text):
        text = f"{text} {FOOTER}"
    chars = len(text.encode("utf-16-le")) // 2
    segments = 1 if chars <= SINGLE else math.ceil(chars / PART)
    return text, chars, segments, offer is None or text_of(offer) in text[:PREVIEW]


# Pieces templates and values are made of, including the awkward ones: whitespace at either end,
# the signature or the opt-out line already written (or half of it), long text, format specs,
# control characters.
TEMPLATE_PIECES = ["满199减60：", "{name}", "{tier}", "{product}", "{coupon}", "{store}", "{offer}", "{unknown}",
                   " ", "\u3000", "\n", f"【{STORE}】", FOOTER, "回T", "退订", "字" * 40, "{name:>6}", "{tier!r}",
                   "{{literal}}", "\x1c", "🌸"]
VALUES = st.one_of(st.sampled_from(MISSING),
                   st.sampled_from(["李薇", "  王芳 ", "李\n薇", "vip", FOOTER, "回T", "退订", f"【{STORE}】", "长" * 70,
                                    "\x1c", "王\x1f芳\x08", "小美🌸", "=1+1", "nan"]),
                   st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(template=st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=6).map("".join),
       rows=st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=1, max_size=8),
       coupon=st.one_of(st.none(), st.sampled_from(["WB60", " C ", "", FOOTER])),
       offer=st.one_of(st.none(), st.sampled_from(["", "满199减60", "vip", FOOTER])),
       string_columns=st.booleans())
def test_render_rows_gives_each_row_what_the_per_recipient_renderer_gives(template, rows, coupon, offer,
                                                                          string_columns):
    # As the warehouse delivers them: pandas' string dtype (a missing value reads as NaN) or, for
    # a column with no value at all, object (None, NaN, NA as they come).
    def column(i):
        values = [row[i] for row in rows]
        if string_columns:
            return pd.Series([v if isinstance(v, str) else None for v in values], dtype="str")
        return pd.Series(values, dtype=object)

    row_fields = pd.DataFrame({name: column(i) for i, name in enumerate(["name", "tier", "product"])})
    row_fields.index = pd.Index(np.arange(len(rows)) * 7 + 3)  # any index is kept
    rendered = render_rows(template, row_fields, {"coupon": coupon}, offer=offer)

    assert list(rendered.index) == list(row_fields.index)
    for (label, got), as_read in zip(rendered.iterrows(), row_fields.itertuples(index=False)):
        fields = {"name": as_read.name, "tier": as_read.tier, "product": as_read.product, "coupon": coupon}
        expected = reference_render(template, fields, offer)
        assert (got["text"], got["chars"], got["segments"], got["offer_in_preview"]) == expected, label
        one = render(template, fields, offer=offer)
        assert (one.text, one.chars, one.segments, one.offer_in_preview) == expected, label


def test_render_rows_of_no_rows():
    rendered = render_rows("{name}", pd.DataFrame({"name": pd.Series([], dtype=object)}))
    assert rendered.empty and list(rendered.columns) == ["text", "chars", "segments", "offer_in_preview"]


def test_store_offer_and_coupon_are_fixed_fields():
    for field in ("store", "offer", "coupon"):
        with pytest.raises(ValueError, match="fixed fields"):
            render_rows(f"{{{field}}}", pd.DataFrame({field: ["a"]}))


def test_render_is_one_row_of_render_rows():
    message = render("{name}，{tier}会员{coupon}", {"name": " 李薇", "tier": None, "coupon": "WB60"}, offer="李薇")
    assert (message.text, message.chars, message.segments, message.offer_in_preview) == \
        reference_render("{name}，{tier}会员{coupon}", {"name": " 李薇", "tier": None, "coupon": "WB60"}, "李薇")
    assert message.text == "【老客美妆】李薇，会员WB60 回T退订"
    assert isinstance(message.chars, int) and isinstance(message.offer_in_preview, bool)


# --- a field without a value ------------------------------------------------------------------

TEMPLATE = "满199减60券已到账：{name}，您的{product}快用完啦，券码{coupon}"


ABSENT = object()  # the field is not given at all


@pytest.mark.parametrize("missing", MISSING + [ABSENT], ids=lambda value: "absent" if value is ABSENT else repr(value))
def test_a_field_without_a_value_renders_like_none_in_both_paths(missing):
    as_none = render(TEMPLATE, {"name": None, "product": None, "coupon": None}).text
    # the name says missing_name_text (亲); other fields render empty
    assert as_none == "【老客美妆】满199减60券已到账：亲，您的快用完啦，券码 回T退订"
    fields = {} if missing is ABSENT else {"name": missing, "product": missing, "coupon": missing}
    assert render(TEMPLATE, fields).text == as_none
    assert not re.search(r"nan|None|<NA>|NaT|\{", as_none)
    if missing is ABSENT:
        assert render_rows(TEMPLATE, pd.DataFrame(index=range(2)))["text"].tolist() == [as_none] * 2
        return
    assert field_text(missing) == ""
    dtypes = [object] + (["str", "string"] if missing is None or isinstance(missing, str) else [])
    for dtype in dtypes:  # a string column holds text or its own missing value
        row_fields = pd.DataFrame({"name": pd.Series([missing, "李薇"], dtype=dtype),
                                   "product": pd.Series([missing, "面膜"], dtype=dtype)})
        texts = list(render_rows(TEMPLATE, row_fields, {"coupon": missing})["text"])
        assert texts == [as_none, "【老客美妆】满199减60券已到账：李薇，您的面膜快用完啦，券码 回T退订"], dtype


def test_a_value_is_trimmed_and_its_whitespace_runs_are_one_space():
    assert field_text("  李\n\n薇\t ") == "李 薇"
    assert field_text(" 王\u3000\u3000芳 ") == "王 芳"
    assert field_text("nan") == "nan"  # a customer may be called that: only a missing value is missing
    assert render("{name}您好", {"name": 42}).text == "【老客美妆】42您好 回T退订"


# --- the opt-out line and the signature are the operator's --------------------------------------

@pytest.mark.parametrize("value", [FOOTER, f"李薇{FOOTER}", f"{FOOTER}精华", f"【{STORE}】"])
def test_a_customers_text_never_takes_the_opt_out_line_or_signature_out(value):
    template = "满199减60：{name}，您的{product}快用完啦"
    one = render(template, {"name": value, "product": value}).text
    rows = render_rows(template, pd.DataFrame({"name": [value, "李薇"], "product": [value, "面膜"]}))["text"]
    for text in (one, rows.iloc[0]):
        assert text == f"【{STORE}】满199减60：{value}，您的{value}快用完啦 {FOOTER}"
        assert text.startswith(f"【{STORE}】") and text.endswith(f" {FOOTER}")
    # at the very start, a customer's 【store】 is their text, not the signature
    assert render("{name}您好", {"name": f"【{STORE}】"}).text == f"【{STORE}】【{STORE}】您好 {FOOTER}"


def test_an_opt_out_line_the_operator_wrote_is_not_added_again():
    for value in (None, FOOTER, "李薇"):
        text = render(f"【{STORE}】满199减60：{{name}}，{FOOTER}", {"name": value}).text
        assert text.count(FOOTER) == 1 + (value == FOOTER) and text.count(f"【{STORE}】") == 1
        assert text.endswith(f"，{FOOTER}")
    # written by the operator as a campaign field (the coupon) it counts too
    assert render("满199减60：{name}，{coupon}", {"name": "李薇", "coupon": FOOTER}).text == \
        f"【{STORE}】满199减60：李薇，{FOOTER}"
    # the two halves of the line around a customer's field are not the line
    assert render("满199减60：回T{product}退订", {"product": ""}).text == f"【{STORE}】满199减60：回T退订 {FOOTER}"


# --- control characters and UCS-2 length ----------------------------------------------------------

def test_control_characters_never_reach_a_message():
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    every_character = "".join(map(chr, range(0x110000)))
    # every character openpyxl refuses is one a message never carries
    assert set(ILLEGAL_CHARACTERS_RE.findall(every_character)) <= set(UNSAFE_CHARACTERS.findall(every_character))
    assert not {"\t", "\n", "\r", " ", "字", "🌸"} & set(UNSAFE_CHARACTERS.findall(every_character))

    template = f"满199减60\x1c：{{name}}，{{product}}{UNSAFE}"
    fields = {"name": f"李{UNSAFE}薇", "product": "\x1c面膜\x00", "coupon": "\x08WB60"}
    one = render(template + "{coupon}", fields).text
    rows = render_rows(template + "{coupon}", pd.DataFrame({"name": [fields["name"]], "product": [fields["product"]]}),
                       {"coupon": fields["coupon"]})["text"]
    assert one == rows.iloc[0] == f"【{STORE}】满199减60：李薇，面膜WB60 {FOOTER}"
    assert not ILLEGAL_CHARACTERS_RE.search(one) and not UNSAFE_CHARACTERS.search(one)
    assert field_text("\x1c") == field_text(f"{UNSAFE}  ") == ""  # nothing left: no value


def test_an_emoji_counts_two_ucs2_characters():
    assert sms_segments("字" * 69 + "🌸") == 2 and sms_segments("字" * 68 + "🌸") == 1
    body = "字" * (SINGLE - len(f"【{STORE}】 {FOOTER}") - 2)  # room for two BMP characters
    fits = render(body + "{name}", {"name": "李薇"})
    over = render(body + "{name}", {"name": "小🌸"})
    assert (fits.chars, fits.segments) == (SINGLE, 1)
    assert (over.chars, over.segments) == (SINGLE + 1, 2) and len(over.text) == SINGLE
    rows = render_rows(body + "{name}", pd.DataFrame({"name": pd.Series(["李薇", "小🌸"], dtype="str")}))
    assert list(rows["chars"]) == [SINGLE, SINGLE + 1] and list(rows["segments"]) == [1, 2]
