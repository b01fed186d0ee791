"""SMS text: rendering templates per recipient, the signature and opt-out line, segment counting.

A short SMS is 70 UCS-2 characters; a longer one is sent as parts of 67 (seed 003). The first
~20 characters are what a phone's message list shows, so the offer belongs there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from laoke.settings import rule


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    chars: int
    segments: int
    offer_in_preview: bool


def sms_segments(text: str, single: int | None = None, part: int | None = None) -> int:
    """Parts an SMS is sent as: 1 up to `single` characters, else ceil(len / part)."""
    single = int(rule("sms_single_chars")) if single is None else single
    part = int(rule("sms_part_chars")) if part is None else part
    length = len(text)
    if length <= single:
        return 1
    return math.ceil(length / part)


def with_signature_and_opt_out(body: str, store: str | None = None, footer: str | None = None) -> str:
    """Every marketing SMS starts with 【store】 and ends with the opt-out line (回T退订)."""
    store = store or str(rule("store_name"))
    footer = footer or str(rule("opt_out_footer"))
    signature = f"【{store}】"
    text = body.strip()
    if not text.startswith(signature):
        text = signature + text
    if footer not in text:
        text = f"{text} {footer}"
    return text


def render(template: str, fields: dict[str, str], offer: str | None = None) -> RenderedMessage:
    values = {k: ("" if v is None else str(v)) for k, v in fields.items()}
    values.setdefault("store", str(rule("store_name")))
    values.setdefault("offer", offer or "")
    text = with_signature_and_opt_out(template.format_map(_Blank(values)), store=values["store"])
    preview = int(rule("sms_preview_chars"))
    offer_in_preview = offer is None or offer in text[:preview]
    return RenderedMessage(text=text, chars=len(text), segments=sms_segments(text), offer_in_preview=offer_in_preview)


class _Blank(dict):
    """A missing value renders empty (a customer without a name), never the placeholder itself."""

    def __missing__(self, key: str) -> str:
        return ""
