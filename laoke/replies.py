"""Reading an SMS reply as an opt-out (退订) or opt-in command, or as neither.

The rule is lopsided on purpose: honouring an opt-out that was not meant costs one customer's
messages; ignoring one that was meant is a legal problem. So a reply that asks to unsubscribe in
any clear way opts out, and only an explicit subscribe word opts back in.

A reply is a command when, after NFKC (full-width -> half-width), casefolding and stripping
whitespace, punctuation and symbols around it:

1. it is one of OPT_OUT_WORDS / OPT_IN_WORDS ('TD', 'T D', '【退订】', 'Stop!', '订阅');
2. or it is such words plus politeness only (FILLER_WORDS): '退订，谢谢', '回T退订', 'stop please';
3. or (opt-out only) it contains an unmistakable phrase (OPT_OUT_PHRASES: 退订, 取消订阅,
   unsubscribe, 别再发短信, ...) that is not negated right before it: '我要退订', '怎么退订',
   '退订不了' opt out; '不要退订', '没退订', "don't unsubscribe" do not.

Single letters (T, N) and short words (退, 取消, stop, end) count only as the whole reply or with
politeness around them, so 'thanks', 'Tomorrow', '退款', '取消订单' are not commands. A reply
with both an opt-out and an opt-in word ('T start') is an opt-out.
"""

from __future__ import annotations

import re
import unicodedata

OPT_OUT = "opt_out"
OPT_IN = "opt_in"

OPT_OUT_WORDS = frozenset(
    {
        "t", "td", "n", "退", "退订", "取消", "取消订阅", "退订短信", "取消短信", "拒收",
        "stop", "stop all", "stopall", "unsubscribe", "unsub", "cancel", "end", "quit",
    }
)
OPT_IN_WORDS = frozenset({"start", "unstop", "subscribe", "resubscribe", "订阅", "重新订阅", "恢复订阅"})

# Politeness and framing that may surround a command without changing it. '回' and '回复' come
# from customers pasting the footer '回T退订' back.
FILLER_WORDS = frozenset(
    {
        "谢谢", "谢谢你", "谢了", "多谢", "感谢", "请", "麻烦", "麻烦了", "麻烦你", "帮我", "给我",
        "我要", "我想", "要", "回", "回复", "吧", "了", "啊", "呀", "哦", "噢", "嗯", "全部", "所有",
        "please", "pls", "plz", "thanks", "thank you", "thx", "me", "now",
    }
)

# Opt-out phrases honoured anywhere in a reply. Only phrases with no everyday second meaning:
# not 取消 (取消订单 is an order question), not 退 (退款, 退货), not stop ("can't stop buying").
OPT_OUT_PHRASES = (
    "退订", "取消订阅", "取消短信", "unsubscribe",
    "别再发短信", "不要再发短信", "别发短信", "不要发短信", "别再发了", "不要再发了",
)
# 'unsubscribe' may be inflected: 'unsubscribed' ("I already did") still asks to be out.
_PHRASE = re.compile(
    "|".join(r"\bunsubscrib" if p == "unsubscribe" else re.escape(p) for p in OPT_OUT_PHRASES)
)
# A negation right before a phrase turns it around: 不要退订 is "do not unsubscribe (me)".
# 不能退订 / 退订不了 ("I can't unsubscribe") are not negations: they still ask to leave.
_NEGATION_BEFORE = re.compile(
    r"(?:不|别|勿|没|无需|无须|不用|不必)(?:有|要|想|用|需要|必|会|再)?\s*$"
    r"|\b(?:don't|dont|do not|not|never)\s*$"
)

# A reply starting with 'stop' as a word ("stop sending", "STOP texting me") is the imperative.
_LEADING_STOP = re.compile(r"stop\b")

# Word pieces for rule 2, longest first so 'unsubscribe' is never read as 'un' + 'subscribe'.
# 退 is whole-reply only: with fillers it would read 退了 ("I returned it") as an opt-out.
_PIECES = sorted(
    [(w, OPT_OUT) for w in OPT_OUT_WORDS if w != "退"]
    + [(w, OPT_IN) for w in OPT_IN_WORDS]
    + [(w, None) for w in FILLER_WORDS],
    key=lambda piece: -len(piece[0]),
)


def _is_edge_char(ch: str) -> bool:
    # Whitespace, punctuation (。！，、「」【】 and quotes), symbols and emoji, control characters.
    return unicodedata.category(ch)[0] in "ZPSC"


def normalize_reply(text: str) -> str:
    """NFKC, casefold, curly apostrophes made straight, edges stripped, inner whitespace single."""
    norm = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    start, end = 0, len(norm)
    while start < end and _is_edge_char(norm[start]):
        start += 1
    while end > start and _is_edge_char(norm[end - 1]):
        end -= 1
    return " ".join(norm[start:end].split())


def _pieces(norm: str) -> set[str | None] | None:
    """Read norm as command words and fillers only; the kinds found, or None if anything else."""
    kinds: set[str | None] = set()
    i = 0
    while i < len(norm):
        if _is_edge_char(norm[i]):
            i += 1
            continue
        for word, kind in _PIECES:
            if not norm.startswith(word, i):
                continue
            after = i + len(word)
            # An ASCII word must end at a word boundary: 't' in 'thanks' is not a 't'.
            if word[-1].isascii() and after < len(norm) and norm[after].isascii() and norm[after].isalnum():
                continue
            kinds.add(kind)
            i = after
            break
        else:
            return None
    return kinds


def classify_reply(text: str | None) -> str | None:
    """'opt_out', 'opt_in', or None when the reply is not a command."""
    if text is None or not isinstance(text, str):
        return None
    norm = normalize_reply(text)
    if not norm:
        return None
    # Spaced or dotted letters ('T D', 'T.D.', 's t o p') are the same word.
    compact = "".join(ch for ch in norm if not _is_edge_char(ch))
    if norm in OPT_OUT_WORDS or compact in OPT_OUT_WORDS:
        return OPT_OUT
    if norm in OPT_IN_WORDS or compact in OPT_IN_WORDS:
        return OPT_IN
    kinds = _pieces(norm)
    if kinds is not None:
        if OPT_OUT in kinds:
            return OPT_OUT
        if OPT_IN in kinds:
            return OPT_IN
    if _LEADING_STOP.match(norm):
        return OPT_OUT
    for match in _PHRASE.finditer(norm):
        if not _NEGATION_BEFORE.search(norm, 0, match.start()):
            return OPT_OUT
    return None
