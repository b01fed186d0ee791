"""Messages rendered for a whole list at once are the ones the per-recipient renderer gave."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laoke.messages import render, render_rows

STORE, FOOTER, SINGLE, PART, PREVIEW = "老客美妆", "回T退订", 70, 67, 20


def reference_render(template: str, fields: dict, offer: str | None) -> tuple[str, int, int, bool]:
    """The per-recipient renderer that render_rows replaced, kept verbatim as the reference."""

    class Blank(dict):
        def __missing__(self, key):
            return ""

    values = {k: ("" if v is None else str(v)) for k, v in fields.items()}
    values.setdefault("store", STORE)
    values.setdefault("offer", offer or "")
    text = template.format_map(Blank(values)).strip()
    signature = f"【{values['store']}】"
    if not text.startswith(signature):
        text = signature + text
    if FOOTER not in text:
        text = f"{text} {FOOTER}"
    segments = 1 if len(text) <= SINGLE else math.ceil(len(text) / PART)
    return text, len(text), segments, offer is None or offer in text[:PREVIEW]


# Pieces templates and values are made of, including the awkward ones: whitespace at either end,
# the signature or the opt-out line already written, long text, format specs.
TEMPLATE_PIECES = ["满199减60：", "{name}", "{tier}", "{product}", "{coupon}", "{store}", "{offer}", "{unknown}",
                   " ", "\u3000", "\n", f"【{STORE}】", FOOTER, "字" * 40, "{name:>6}", "{tier!r}", "{{literal}}"]
VALUES = st.one_of(st.none(), st.sampled_from(["李薇", "", "  王芳 ", "vip", FOOTER, f"【{STORE}】", "长" * 70, "\x1c"]),
                   st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(template=st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=6).map("".join),
       rows=st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=1, max_size=8),
       coupon=st.one_of(st.none(), st.sampled_from(["WB60", " C "])),
       offer=st.one_of(st.none(), st.sampled_from(["", "满199减60", "vip", FOOTER])),
       string_columns=st.booleans())
def test_render_rows_gives_each_row_what_the_per_recipient_renderer_gave(template, rows, coupon, offer, string_columns):
    # As the warehouse delivers them: pandas' string dtype (a missing value reads as NaN) or, for
    # a column with no value at all, object (None).
    dtype = "str" if string_columns else object
    row_fields = pd.DataFrame({name: pd.Series([row[i] for row in rows], dtype=dtype)
                               for i, name in enumerate(["name", "tier", "product"])},
                              index=pd.Index(np.arange(len(rows)) * 7 + 3))  # any index is kept
    rendered = render_rows(template, row_fields, {"coupon": coupon}, offer=offer)

    assert list(rendered.index) == list(row_fields.index)
    for (label, got), as_read in zip(rendered.iterrows(), row_fields.itertuples(index=False)):
        fields = {"name": as_read.name, "tier": as_read.tier, "product": as_read.product, "coupon": coupon}
        assert (got["text"], got["chars"], got["segments"], got["offer_in_preview"]) == \
            reference_render(template, fields, offer), label


def test_render_rows_of_no_rows():
    rendered = render_rows("{name}", pd.DataFrame({"name": pd.Series([], dtype=object)}))
    assert rendered.empty and list(rendered.columns) == ["text", "chars", "segments", "offer_in_preview"]


def test_store_and_offer_are_fixed_fields():
    with pytest.raises(ValueError, match="fixed fields"):
        render_rows("{offer}", pd.DataFrame({"offer": ["a"]}))


def test_render_is_one_row_of_render_rows():
    message = render("{name}，{tier}会员{coupon}", {"name": " 李薇", "tier": None, "coupon": "WB60"}, offer="李薇")
    assert (message.text, message.chars, message.segments, message.offer_in_preview) == \
        reference_render("{name}，{tier}会员{coupon}", {"name": " 李薇", "tier": None, "coupon": "WB60"}, "李薇")
    assert isinstance(message.chars, int) and isinstance(message.offer_in_preview, bool)
