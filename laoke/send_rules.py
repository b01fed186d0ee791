"""Send-list rules (seeds 000-003): each a named step that drops members for one reason.

Rules run in order on the audience; a member is dropped by the first rule that applies and the
drop is counted and recorded with the rule's name, so a list always explains its size. The cap
counts the send ledger, including the list being built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

import pandas as pd

from laoke.settings import rule


@dataclass(frozen=True)
class RuleContext:
    send_date: date
    recent_buyer_days: int
    promotion_buyers: frozenset[str]
    prior_sends: dict[str, int]          # e164 -> marketing messages already in the cap window
    prior_campaigns: dict[str, str]      # e164 -> campaigns that took those slots
    cap_messages: int
    sendable_classes: tuple[str, ...]


def sendable_classes() -> tuple[str, ...]:
    return ("valid_mobile", "virtual_operator") if rule("allow_virtual_operator_phones") else ("valid_mobile",)


def invalid_phone(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    drop = ~members["phone_class"].isin(ctx.sendable_classes) | members["e164"].isna()
    return drop, "phone_class=" + members["phone_class"].fillna("missing").astype(str)


def blacklisted(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    return members["is_blacklisted"].fillna(False).astype(bool), pd.Series("blacklist", index=members.index)


def opted_out(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    return members["is_opted_out"].fillna(False).astype(bool), pd.Series("latest consent event is opt_out", index=members.index)


def recent_buyer(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    """Seed 001: resending to whoever bought in the last 7 days cut conversion from 2.15% to 0.82%."""
    if ctx.recent_buyer_days <= 0:
        return pd.Series(False, index=members.index), pd.Series("", index=members.index)
    cutoff = pd.Timestamp(ctx.send_date - timedelta(days=ctx.recent_buyer_days))
    last = pd.to_datetime(members["last_purchase_date"])
    drop = last.notna() & (last >= cutoff)
    return drop, "last purchase " + last[drop].dt.strftime("%Y-%m-%d").fillna("")


def already_bought_in_promotion(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    drop = members["customer_id"].isin(ctx.promotion_buyers)
    return drop, pd.Series("bought in this promotion", index=members.index)


def duplicate_phone(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    """One message per phone: the smallest customer id keeps it (members arrive sorted by id)."""
    drop = members["e164"].notna() & members["e164"].duplicated(keep="first")
    return drop, pd.Series("same phone as another member", index=members.index)


def frequency_cap(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.Series, pd.Series]:
    """At most cap_messages marketing messages per phone in the rolling window, this one included;
    a campaign of higher priority built before this one keeps the slot, and the detail names it."""
    phones = members["e164"].astype(object)  # pandas' string dtype would keep map()'s result as text
    prior = pd.to_numeric(phones.map(ctx.prior_sends), errors="coerce").fillna(0)
    drop = prior + 1 > ctx.cap_messages
    detail = "capped by " + phones[drop].map(ctx.prior_campaigns).fillna("").astype(str)
    return drop, detail


# The member columns the rules read. The rules filter only these (faster than filtering every
# column after each rule); apply_send_rules then takes the kept rows of all columns once.
RULE_COLUMNS = ["customer_id", "e164", "phone_class", "is_blacklisted", "is_opted_out", "last_purchase_date"]

SEND_RULES: tuple[tuple[str, Callable], ...] = (
    ("invalid_phone", invalid_phone),
    ("blacklisted", blacklisted),
    ("opted_out", opted_out),
    ("recent_buyer", recent_buyer),
    ("already_bought_in_promotion", already_bought_in_promotion),
    ("duplicate_phone", duplicate_phone),
    ("frequency_cap", frequency_cap),
)


def apply_send_rules(members: pd.DataFrame, ctx: RuleContext) -> tuple[pd.DataFrame, dict[str, int], pd.DataFrame]:
    """Returns (kept members, drop count per rule in order, one exclusion row per dropped member).

    Each rule returns a drop flag per member and a detail text for (at least) each dropped member:
    a rule whose detail is costly to build computes it for the dropped members only."""
    counts: dict[str, int] = {}
    exclusions = []
    kept = members[RULE_COLUMNS].reset_index(drop=True)  # index = row position in members
    for name, step in SEND_RULES:
        drop, detail = step(kept, ctx)
        drop = drop.fillna(False).astype(bool)
        counts[name] = int(drop.sum())
        if counts[name]:
            exclusions.append(pd.DataFrame({
                "customer_id": kept.loc[drop, "customer_id"].to_numpy(),
                "rule": name,
                "detail": detail.reindex(kept.index[drop.to_numpy()]).astype(str).to_numpy(),
            }))
            kept = kept.loc[~drop]
    excluded = pd.concat(exclusions, ignore_index=True) if exclusions else pd.DataFrame(
        {"customer_id": pd.Series(dtype="object"), "rule": pd.Series(dtype="object"), "detail": pd.Series(dtype="object")}
    )
    return members.iloc[kept.index.to_numpy()], counts, excluded
