"""SMS text: rendering templates per recipient, the signature and opt-out line, segment counting.

A short SMS is 70 UCS-2 characters; a longer one is sent as parts of 67 (seed 003). The first
~20 characters are what a phone's message list shows, so the offer belongs there.

Field values (a customer's name, tier, product) are the store's and its customers' text, not the
operator's: they are cleaned before they enter a message, and they never decide whether the
message carries the 【store】 signature or the opt-out line. A field without a value (None, NaN,
pd.NA, empty or only whitespace) renders empty, whichever way the value arrived.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from laoke.settings import rule

# Fields a campaign sets, the same for every recipient (the operator's text). Any other field is
# a recipient's (name, tier, product) and is passed to render_rows as a column.
CAMPAIGN_FIELDS = frozenset({"store", "offer", "coupon"})
# The recipient's name: when missing, the message says missing_name_text (亲) instead.
NAME_FIELD = "name"

# Characters no SMS carries and no XLSX cell can store: C0 control characters except tab, line
# feed and carriage return (openpyxl's ILLEGAL_CHARACTERS_RE, which makes it raise
# IllegalCharacterError), DEL, C1 control characters, lone surrogates (no UTF-8 or UCS-2 file can
# hold them) and the non-characters U+FFFE / U+FFFF (not XML).
UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Stands for every recipient's field while deciding what the operator wrote: it is in no text
# that reaches a message (UNSAFE_CHARACTERS removes it), so the operator's own text is never
# mistaken for a field value or the other way round.
_FIELD_MARK = "\x00"


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    chars: int  # UCS-2 characters, as the SMS gateway counts them (an emoji outside the BMP counts 2)
    segments: int
    offer_in_preview: bool


def ucs2_length(text: str) -> int:
    """Characters of text as an SMS gateway counts them: UCS-2 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def sms_segments(text: str, single: int | None = None, part: int | None = None) -> int:
    """Parts an SMS is sent as: 1 up to `single` UCS-2 characters, else ceil(length / part)."""
    return _segments_for_length(ucs2_length(text), single, part)


def _segments_for_length(length: int, single: int | None = None, part: int | None = None) -> int:
    single = int(rule("sms_single_chars")) if single is None else single
    part = int(rule("sms_part_chars")) if part is None else part
    if length <= single:
        return 1
    return math.ceil(length / part)


def strip_unsafe_characters(text: str) -> str:
    """text without the characters no SMS carries and no XLSX cell stores (UNSAFE_CHARACTERS)."""
    return UNSAFE_CHARACTERS.sub("", text)


def field_text(value: object) -> str:
    """A field's value as it appears in a message: '' when it has none (None, NaN, pd.NA, NaT,
    empty or only whitespace); else its text without unsafe characters, every run of whitespace
    (a line break in a name included) one space, none at either end."""
    values = np.empty(1, dtype=object)
    values[0] = value
    return _field_texts(values)[0]


def _column_texts(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """field_text() of every value of a column, and the column's distinct texts."""
    if isinstance(column.dtype, pd.StringDtype):  # the warehouse's text: each distinct value cleaned once
        codes, distinct = pd.factorize(column)  # a missing value's code is -1: the last text, ''
        texts = _field_texts(distinct.to_numpy(dtype=object)) + [""]
        return np.array(texts, dtype=object)[codes], texts
    texts = _field_texts(column.to_numpy(dtype=object))
    return np.array(texts, dtype=object), texts


def _field_texts(values: Iterable[object]) -> list[str]:
    """field_text() of every value."""
    if not (isinstance(values, np.ndarray) and values.dtype == object):
        values = np.fromiter(values, dtype=object)  # each value one element, even a list
    missing = pd.isna(values).tolist()
    return ["" if is_missing else _clean(value if type(value) is str else str(value))
            for value, is_missing in zip(values.tolist(), missing)]


def _clean(text: str) -> str:
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # the common case: nothing to remove (isprintable: no control character, no line break)
    return " ".join(strip_unsafe_characters(text).split())


def with_signature_and_opt_out(body: str, store: str | None = None, footer: str | None = None) -> str:
    """Every marketing SMS starts with 【store】 and ends with the opt-out line (回T退订).
    body is the operator's text: when it already has either, it is not added again."""
    return all_with_signature_and_opt_out([body], store, footer)[0]


def all_with_signature_and_opt_out(bodies: Iterable[str], store: str | None = None, footer: str | None = None,
                                   written: str | None = None) -> list[str]:
    """with_signature_and_opt_out() of many bodies, one step at a time over all of them.

    written: the text the operator wrote, which the bodies were filled in from (the template with
    the campaign's fields, every recipient's field _FIELD_MARK). The signature is kept as written
    only when the operator's text starts with it, and the opt-out line only when the operator's
    text has it: a customer named 回T退订 does not take the opt-out line out of the message. A
    body that lacks either gets it whatever the template says. Without `written`, each body is
    the operator's own text."""
    store = store or str(rule("store_name"))
    footer = footer or str(rule("opt_out_footer"))
    signature = f"【{store}】"
    texts = [body.strip() for body in bodies]
    if written is None:
        texts = [text if text.startswith(signature) else signature + text for text in texts]
        return [text if footer in text else f"{text} {footer}" for text in texts]
    written = written.strip()
    if written.startswith(signature):
        texts = [text if text.startswith(signature) else signature + text for text in texts]
    else:
        texts = [signature + text for text in texts]
    if footer in written:
        return [text if footer in text else f"{text} {footer}" for text in texts]
    return [f"{text} {footer}" for text in texts]


def render(template: str, fields: Mapping[str, object], offer: str | None = None) -> RenderedMessage:
    """One message: the template filled with fields (a field without a value renders empty: see
    field_text; a missing name renders missing_name_text), with the signature and opt-out line, its length in SMS parts, whether the offer
    shows in the preview. store, offer and coupon are the campaign's fields; the others are the
    recipient's."""
    campaign = {name: value for name, value in fields.items() if name in CAMPAIGN_FIELDS}
    recipient = {name: pd.Series([value], dtype=object) for name, value in fields.items() if name not in campaign}
    one_row = render_rows(template, pd.DataFrame(recipient, index=range(1)), campaign, offer).iloc[0]
    return RenderedMessage(text=one_row["text"], chars=int(one_row["chars"]), segments=int(one_row["segments"]),
                           offer_in_preview=bool(one_row["offer_in_preview"]))


def render_rows(template: str, row_fields: pd.DataFrame, fixed_fields: Mapping[str, object] | None = None,
                offer: str | None = None) -> pd.DataFrame:
    """render() for every row of row_fields at once (a list of a million takes seconds, not minutes).

    row_fields has a column per field that differs between recipients (name, tier, product);
    fixed_fields are the campaign's, the same for all (coupon; store and offer default to the
    store's name and `offer`): they count as the operator's text, row fields never do. Returns one
    row per row of row_fields, same index, with RenderedMessage's columns."""
    if CAMPAIGN_FIELDS & set(row_fields.columns):
        raise ValueError(f"{', '.join(sorted(CAMPAIGN_FIELDS & set(row_fields.columns)))}: the campaign's fields "
                         "are the same for every recipient: pass them as fixed fields")
    template = strip_unsafe_characters(template)
    fixed = dict(zip(fixed_fields or {}, _field_texts(list((fixed_fields or {}).values()))))
    fixed["store"] = fixed.get("store") or str(rule("store_name"))
    fixed["offer"] = fixed.get("offer") or field_text(offer)
    fixed[NAME_FIELD] = fixed.get(NAME_FIELD) or field_text(rule("missing_name_text"))  # also with no name column
    footer = str(rule("opt_out_footer"))
    columns, every_text = {}, [template, footer, *fixed.values()]
    for name in row_fields.columns:
        columns[name], distinct = _column_texts(row_fields[name])
        if name == NAME_FIELD:  # a recipient without a name is addressed, not left blank
            columns[name] = np.where(columns[name] == "", fixed[NAME_FIELD], columns[name])
        every_text += distinct
    bodies = _fill(template, columns, len(row_fields), fixed)
    written = _fill(template, {name: np.array([_FIELD_MARK], dtype=object) for name in columns}, 1, fixed)[0]
    texts = all_with_signature_and_opt_out(bodies, store=fixed["store"], footer=footer, written=written)

    # A character outside the BMP (an emoji in a name) counts 2: only then is each text encoded.
    joined = "".join(every_text)
    count = len if ucs2_length(joined) == len(joined) else ucs2_length
    chars = np.fromiter(map(count, texts), dtype=np.int64, count=len(texts))
    lengths, length_of_row = np.unique(chars, return_inverse=True)  # a list has few distinct lengths
    segments = np.array([_segments_for_length(int(n)) for n in lengths], dtype=np.int64)[length_of_row]
    if offer is None:
        offer_in_preview = [True] * len(texts)
    else:
        preview, offer = int(rule("sms_preview_chars")), field_text(offer)
        offer_in_preview = [offer in text[:preview] for text in texts]
    return pd.DataFrame({"text": pd.array(texts, dtype="str"), "chars": chars, "segments": segments,
                         "offer_in_preview": np.array(offer_in_preview, dtype=bool)}, index=row_fields.index)


def _fill(template: str, columns: Mapping[str, np.ndarray], rows: int, fixed: dict[str, str]) -> np.ndarray:
    """template.format_map() of every row of the field texts in columns and the fixed fields; a
    field that is in neither renders empty.

    A template of plain {field}s (all that campaigns use) is filled a field at a time: literal
    text and fixed fields are joined once, and each row field's column is added with numpy's
    element-wise +. A template with a format spec or conversion ({name:>4}, {name!r}) is
    formatted row by row."""
    pieces = list(string.Formatter().parse(template))
    plain = all(field is None or (field.isidentifier() and not spec and conversion is None)
                for _, field, spec, conversion in pieces)
    if not plain:
        return np.array([template.format_map(_Blank(fixed, **{name: column[i] for name, column in columns.items()}))
                         for i in range(rows)], dtype=object)
    bodies = np.full(rows, "", dtype=object)
    text_so_far = ""  # literal text and fixed fields not yet added to bodies
    for literal, field, _, _ in pieces:
        text_so_far += literal
        if field is None:
            continue
        if field in columns:
            bodies = bodies + text_so_far + columns[field]
            text_so_far = ""
        else:
            text_so_far += fixed.get(field, "")
    return bodies + text_so_far


class _Blank(dict):
    """A missing value renders empty (a customer without a name), never the placeholder itself."""

    def __missing__(self, key: str) -> str:
        return ""
