"""SMS text: rendering templates per recipient, the signature and opt-out line, segment counting.

A short SMS is 70 UCS-2 characters; a longer one is sent as parts of 67 (seed 003). The first
~20 characters are what a phone's message list shows, so the offer belongs there.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from laoke.settings import rule


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    chars: int
    segments: int
    offer_in_preview: bool


def sms_segments(text: str, single: int | None = None, part: int | None = None) -> int:
    """Parts an SMS is sent as: 1 up to `single` characters, else ceil(len / part)."""
    return _segments_for_length(len(text), single, part)


def _segments_for_length(length: int, single: int | None = None, part: int | None = None) -> int:
    single = int(rule("sms_single_chars")) if single is None else single
    part = int(rule("sms_part_chars")) if part is None else part
    if length <= single:
        return 1
    return math.ceil(length / part)


def with_signature_and_opt_out(body: str, store: str | None = None, footer: str | None = None) -> str:
    """Every marketing SMS starts with 【store】 and ends with the opt-out line (回T退订)."""
    return all_with_signature_and_opt_out([body], store, footer)[0]


def all_with_signature_and_opt_out(bodies: Iterable[str], store: str | None = None,
                                   footer: str | None = None) -> list[str]:
    """with_signature_and_opt_out() of many bodies, one step at a time over all of them."""
    store = store or str(rule("store_name"))
    footer = footer or str(rule("opt_out_footer"))
    signature = f"【{store}】"
    texts = [body.strip() for body in bodies]
    texts = [text if text.startswith(signature) else signature + text for text in texts]
    return [text if footer in text else f"{text} {footer}" for text in texts]


def render(template: str, fields: Mapping[str, object], offer: str | None = None) -> RenderedMessage:
    """One message: the template filled with fields (a missing or None field renders empty), with
    the signature and opt-out line, its length in SMS parts, whether the offer shows in the preview."""
    one_row = render_rows(template, pd.DataFrame(index=range(1)), fields, offer).iloc[0]
    return RenderedMessage(text=one_row["text"], chars=int(one_row["chars"]), segments=int(one_row["segments"]),
                           offer_in_preview=bool(one_row["offer_in_preview"]))


def render_rows(template: str, row_fields: pd.DataFrame, fixed_fields: Mapping[str, object] | None = None,
                offer: str | None = None) -> pd.DataFrame:
    """render() for every row of row_fields at once (a list of a million takes seconds, not minutes).

    row_fields has a column per field that differs between recipients (name, tier, product);
    fixed_fields are the same for all (coupon; store and offer default to the store's name and
    `offer`). Returns one row per row of row_fields, same index, with RenderedMessage's columns."""
    if {"store", "offer"} & set(row_fields.columns):
        raise ValueError("store and offer are the same for every recipient: pass them as fixed fields")
    fixed = dict(zip(fixed_fields or {}, _field_texts((fixed_fields or {}).values())))
    fixed.setdefault("store", str(rule("store_name")))
    fixed.setdefault("offer", offer or "")
    texts = all_with_signature_and_opt_out(_fill(template, row_fields, fixed), store=fixed["store"])

    chars = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    lengths, length_of_row = np.unique(chars, return_inverse=True)  # a list has few distinct lengths
    segments = np.array([_segments_for_length(int(n)) for n in lengths], dtype=np.int64)[length_of_row]
    if offer is None:
        offer_in_preview = [True] * len(texts)
    else:
        preview = int(rule("sms_preview_chars"))
        offer_in_preview = [offer in text[:preview] for text in texts]
    return pd.DataFrame({"text": pd.array(texts, dtype="str"), "chars": chars, "segments": segments,
                         "offer_in_preview": np.array(offer_in_preview, dtype=bool)}, index=row_fields.index)


def _fill(template: str, row_fields: pd.DataFrame, fixed: dict[str, str]) -> np.ndarray:
    """template.format_map() of every row of row_fields and the fixed fields; a field that is in
    neither renders empty.

    A template of plain {field}s (all that campaigns use) is filled a field at a time: literal
    text and fixed fields are joined once, and each row field's column is added with numpy's
    element-wise +. A template with a format spec or conversion ({name:>4}, {name!r}) is
    formatted row by row."""
    pieces = list(string.Formatter().parse(template))
    plain = all(field is None or (field.isidentifier() and not spec and conversion is None)
                for _, field, spec, conversion in pieces)
    if not plain:
        columns = {name: _field_texts(row_fields[name].to_numpy(dtype=object)) for name in row_fields.columns}
        rows = ({name: column[i] for name, column in columns.items()} for i in range(len(row_fields)))
        return np.array([template.format_map(_Blank(fixed, **row)) for row in rows], dtype=object)
    bodies = np.full(len(row_fields), "", dtype=object)
    text_so_far = ""  # literal text and fixed fields not yet added to bodies
    for literal, field, _, _ in pieces:
        text_so_far += literal
        if field is None:
            continue
        if field in row_fields.columns:
            field_texts = np.array(_field_texts(row_fields[field].to_numpy(dtype=object)), dtype=object)
            bodies = bodies + text_so_far + field_texts
            text_so_far = ""
        else:
            text_so_far += fixed.get(field, "")
    return bodies + text_so_far


def _field_texts(values: Iterable[object]) -> list[str]:
    """Each value as its field's text; None renders empty."""
    return ["" if value is None else str(value) for value in values]


class _Blank(dict):
    """A missing value renders empty (a customer without a name), never the placeholder itself."""

    def __missing__(self, key: str) -> str:
        return ""
