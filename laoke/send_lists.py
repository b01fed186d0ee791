"""A campaign's send list: audience -> send rules -> control group -> send slots -> messages.

build_send_list reads the warehouse (read-only) and returns the list without writing anything;
export_send_list (exports/) runs the quality gate, writes the files and records the ledger. The
CLI, Dagster and the tests call these two functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laoke.campaigns import Campaign
from laoke.errors import LaokeError
from laoke.holdout import holdout_sql
from laoke.messages import render_rows
from laoke.results import latest_reply_opt_outs
from laoke.send_rules import RuleContext, apply_send_rules, sendable_classes
from laoke.send_slots import send_times
from laoke.settings import rule
from laoke.warehouse import connect, query_frame

LEDGER_SCHEMA = "campaigns"
RECIPIENT_COLUMNS = [
    "campaign_id", "send_date", "customer_id", "e164", "national_number", "masked_phone", "segment",
    "treatment_group", "holdout_fraction", "send_at", "message", "message_chars", "message_segments",
    "offer_in_preview", "name", "tier", "product_id",
]


@dataclass
class SendList:
    campaign: Campaign
    as_of: date
    send_date: date
    recipients: pd.DataFrame            # treatment and holdout rows, RECIPIENT_COLUMNS
    rule_counts: dict[str, int]         # audience, each rule's drops, holdout, treatment
    exclusions: pd.DataFrame            # customer_id, rule, detail
    audience_phone_classes: dict[str, str] = field(default_factory=dict)  # before any rule, for the gate
    warnings: list[str] = field(default_factory=list)

    @property
    def treatment(self) -> pd.DataFrame:
        return self.recipients[self.recipients["treatment_group"] == "treatment"]

    @property
    def holdout(self) -> pd.DataFrame:
        return self.recipients[self.recipients["treatment_group"] == "holdout"]


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """The send ledger is state the warehouse keeps (not a dbt model): every recipient and holdout
    member of every exported list, and every member a rule excluded."""
    con.execute(f"create schema if not exists {LEDGER_SCHEMA}")
    con.execute(f"""
        create table if not exists {LEDGER_SCHEMA}.send_ledger (
            campaign_id varchar, send_date date, customer_id varchar, e164 varchar, segment varchar,
            treatment_group varchar, send_at timestamp, message varchar, message_segments integer,
            cost_per_message double, list_checksum varchar
        )""")
    con.execute(f"""
        create table if not exists {LEDGER_SCHEMA}.send_exclusions (
            campaign_id varchar, send_date date, customer_id varchar, rule varchar, detail varchar
        )""")
    con.execute(f"""
        create table if not exists {LEDGER_SCHEMA}.send_list_runs (
            campaign_id varchar, send_date date, as_of date, purpose varchar, priority integer,
            audience integer, treatment integer, holdout integer, rule_counts varchar,
            gate_result_id varchar, files varchar, list_checksum varchar,
            holdout_share double, cost_per_message double, attribution_window_days integer,
            event_id varchar
        )""")


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()[0][0])


def _audience_sql(campaign: Campaign) -> str:
    audience = campaign.audience
    product = audience.product_id or "cast(null as varchar)"
    return f"""
        with matched as (
            select
                m.customer_id,
                cast(({audience.segment}) as varchar) as segment,
                cast(({product}) as varchar) as product_id
            from main.{audience.mart} as m
            left join main.customer_segments as s on s.customer_id = m.customer_id
            where ({audience.where})
        ),
        members as (
            select *, row_number() over (partition by customer_id order by segment, product_id) as member_rank
            from matched
        )
        select
            members.customer_id, members.segment, members.product_id,
            contacts.e164, contacts.national_number, contacts.masked_phone,
            coalesce(customers.phone_class, 'missing') as phone_class,
            customers.name, s.tier, s.last_purchase_date,
            coalesce(prefs.is_opted_out, false) as is_opted_out,
            coalesce(prefs.is_blacklisted, false) as is_blacklisted,
            products.product_name,
            {holdout_sql('$campaign_id', 'members.customer_id')} as holdout_fraction
        from members
        left join main.customers as customers on customers.customer_id = members.customer_id
        left join main.customer_segments as s on s.customer_id = members.customer_id
        left join restricted.customer_contacts as contacts on contacts.customer_id = members.customer_id
        left join restricted.contact_preferences as prefs on prefs.e164 = contacts.e164
        left join main.products as products on products.product_id = members.product_id
        where members.member_rank = 1
        order by members.customer_id
    """


def _promotion_buyers(con, campaign: Campaign, as_of: date) -> frozenset[str]:
    if not (campaign.event and campaign.exclude_bought_in_promotion):
        return frozenset()
    rows = con.execute(
        """
        select distinct o.customer_id
        from main.orders as o
        left join reference.promotion_calendar as p on p.event_id = $event_id
        where o.is_purchase and o.ordered_on <= $as_of
          and (o.promotion_id = $event_id or o.ordered_on between p.starts_on and p.ends_on)
        """,
        {"event_id": campaign.event.event_id, "as_of": as_of},
    ).fetchall()
    return frozenset(r[0] for r in rows)


def _prior_sends(con, campaign: Campaign, send_date: date, as_of: date) -> tuple[dict[str, int], dict[str, str]]:
    """Slots already taken per phone within the cap window (frequency_cap_days either side of the
    send date, so no 30-day window can hold more than the cap).

    Counted: sends on or before as_of (they happened), and lists of campaigns with a higher
    priority (ties: the smaller id). A lower-priority list for a later date never takes a slot
    from this campaign — it is the one capped — so rebuilding a campaign gives the same list.
    Holdout members hold their slot like recipients: both groups of a campaign are then capped
    alike by the campaigns after it, and the comparison between them stays fair."""
    if not _table_exists(con, LEDGER_SCHEMA, "send_ledger"):
        return {}, {}
    days = int(rule("frequency_cap_days")) - 1
    rows = con.execute(
        f"""
        select ledger.e164, count(*), string_agg(distinct ledger.campaign_id, ',' order by ledger.campaign_id)
        from {LEDGER_SCHEMA}.send_ledger as ledger
        inner join {LEDGER_SCHEMA}.send_list_runs as runs
            on runs.campaign_id = ledger.campaign_id and runs.send_date = ledger.send_date
        where ledger.send_date between $start and $end
          and not (ledger.campaign_id = $campaign_id and ledger.send_date = $send_date)
          and (ledger.send_date <= $as_of
               or runs.priority > $priority
               or (runs.priority = $priority and ledger.campaign_id < $campaign_id))
        group by ledger.e164
        """,
        {"start": send_date - timedelta(days=days), "end": send_date + timedelta(days=days),
         "campaign_id": campaign.id, "send_date": send_date, "as_of": as_of, "priority": campaign.priority},
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}, {r[0]: r[2] for r in rows}


def build_send_list(campaign: Campaign, warehouse: Path, send_date: date | None = None) -> SendList:
    with connect(warehouse, read_only=True) as con:
        # fetchall: a result left open would hold the connection (query_frame reads through a relation)
        (as_of,), = con.execute("select as_of_date from intermediate.int_as_of").fetchall()
        send_date = send_date or campaign.effective_send_date(as_of)
        if campaign.audience.mart == "customer_predictions" and not _table_exists(con, "main", "customer_predictions"):
            raise LaokeError(f"campaign {campaign.id}: main.customer_predictions does not exist yet (run `laoke build`)")
        try:
            members = query_frame(con, _audience_sql(campaign), {"campaign_id": campaign.id})
        except duckdb.Error as exc:
            raise LaokeError(
                f"campaign {campaign.id} ({campaign.source_file}): field audience: the filter does not run "
                f"on main.{campaign.audience.mart}: {str(exc).splitlines()[0]}"
            ) from None
        # An opt-out reply pulled in since the last build suppresses the phone at once.
        members["is_opted_out"] = members["is_opted_out"].fillna(False).astype(bool) | members["e164"].isin(
            latest_reply_opt_outs(con))
        prior_sends, prior_campaigns = _prior_sends(con, campaign, send_date, as_of)
        ctx = RuleContext(
            send_date=send_date,
            recent_buyer_days=campaign.exclude_recent_buyers_days,
            promotion_buyers=_promotion_buyers(con, campaign, as_of),
            prior_sends=prior_sends,
            prior_campaigns=prior_campaigns,
            cap_messages=int(rule("frequency_cap_messages")),
            sendable_classes=sendable_classes(),
        )
    kept, drops, exclusions = apply_send_rules(members, ctx)
    kept = kept.sort_values("customer_id")  # the list's order (the audience query's order already: cheap)
    held_out = kept["holdout_fraction"] < campaign.holdout_share
    kept = kept.assign(treatment_group=held_out.map({True: "holdout", False: "treatment"}))

    # Treatment rows in the order send slots are handed out: by holdout fraction, then customer id
    # (kept's order, which a stable sort keeps among equal fractions).
    slot_order = kept.loc[~held_out, "holdout_fraction"].sort_values(kind="stable").index
    treatment = kept.loc[slot_order, ["segment", "name", "tier", "product_name"]]
    window = (campaign.send_window.start, campaign.send_window.end) if campaign.send_window else None
    treatment_columns = _messages(campaign, treatment).assign(
        send_at=pd.Series(send_times(len(treatment), send_date, window=window), index=treatment.index))
    # Lined up with kept by index: holdout rows get NA in the treatment-only columns.
    recipients = (kept.assign(campaign_id=campaign.id, send_date=send_date).join(treatment_columns)
                  .reset_index(drop=True)[RECIPIENT_COLUMNS])

    counts = {"audience": len(members), **drops, "holdout": int(held_out.sum()), "treatment": len(treatment)}
    warnings = _warnings(campaign, treatment_columns, counts)
    return SendList(campaign, as_of, send_date, recipients, counts,
                    exclusions.sort_values(["rule", "customer_id"]).reset_index(drop=True),
                    _phone_classes(members), warnings)


def _phone_classes(members: pd.DataFrame) -> dict[str, str]:
    # to_numpy first: iterating a pandas string column directly is several times slower
    return dict(zip(members["customer_id"].to_numpy(dtype=object), members["phone_class"].to_numpy(dtype=object)))


def tier_display_names() -> dict[str, str]:
    """Tier code -> the name customers read in messages (the tiers var's display_name, else the code)."""
    return {t["tier"]: str(t.get("display_name", t["tier"])) for t in rule("tiers")}


def _messages(campaign: Campaign, treatment: pd.DataFrame) -> pd.DataFrame:
    """The message columns of the treatment rows (same index; rows in slot order), rendered once
    per template and offer for all the rows whose segment has them."""
    row_fields = pd.DataFrame({"name": treatment["name"],
                               "tier": treatment["tier"].astype(object).replace(tier_display_names()),
                               "product": treatment["product_name"]}, index=treatment.index)
    segment_codes, _ = pd.factorize(treatment["segment"], use_na_sentinel=False)
    _, first_rows = np.unique(segment_codes, return_index=True)
    codes_by_template: dict[tuple[str, str | None], list[int]] = {}
    for first_row in sorted(first_rows):  # in slot order: the first segment without a template fails
        segment = treatment["segment"].iloc[first_row]
        key = (campaign.template_for(segment), campaign.offer_for(segment))
        codes_by_template.setdefault(key, []).append(segment_codes[first_row])
    rendered = [
        render_rows(template, row_fields[np.isin(segment_codes, codes)], {"coupon": campaign.coupon}, offer=offer)
        for (template, offer), codes in codes_by_template.items()
    ]
    messages = pd.concat(rendered) if rendered else pd.DataFrame(
        {"text": [], "chars": [], "segments": [], "offer_in_preview": []}, index=treatment.index)  # nobody in treatment
    return pd.DataFrame({
        "message": messages["text"].astype("str"),
        "message_chars": messages["chars"].astype("Int64"),
        "message_segments": messages["segments"].astype("Int64"),
        "offer_in_preview": messages["offer_in_preview"].astype("boolean"),
    })


def _warnings(campaign: Campaign, treatment: pd.DataFrame, counts: dict[str, int]) -> list[str]:
    """treatment: the message columns of the treatment rows."""
    warnings = []
    late_offer = int((treatment["offer_in_preview"] == False).sum())  # noqa: E712 (nullable boolean)
    if late_offer:
        warnings.append(f"{late_offer:,} messages do not show their offer in the first "
                        f"{rule('sms_preview_chars')} characters")
    multipart = int((treatment["message_segments"] > 1).sum())
    if multipart:
        warnings.append(f"{multipart:,} messages are longer than one SMS ({rule('sms_single_chars')} characters) "
                        "and are sent and billed as several parts")
    if counts["recent_buyer"]:
        warnings.append(f"{counts['recent_buyer']:,} recent buyers (last {campaign.exclude_recent_buyers_days} days) "
                        "were dropped (seed 001: resending to them cut conversion from 2.15% to 0.82%)")
    return warnings


def export_campaign(campaign: Campaign, warehouse: Path, out_dir: Path, gbk: bool = False):
    """Builds one campaign's list and exports it. Returns an ExportResult whose `refused` holds the
    gate's paragraph when the gate refused (nothing written), and `skipped` says why when nobody
    was left to send to (nothing to validate or write)."""
    from exports.send_list_export import ExportResult, export_send_list
    from quality.gate import GateRefused

    send_list = build_send_list(campaign, warehouse)
    if send_list.rule_counts["treatment"] == 0:
        return ExportResult(campaign.id, [], {"counts": send_list.rule_counts}, None, send_list.warnings,
                            skipped="nobody left after the send rules: nothing to send")
    try:
        return export_send_list(send_list, warehouse, out_dir, gbk=gbk)
    except GateRefused as refusal:
        return ExportResult(campaign.id, [], {"counts": send_list.rule_counts}, None, send_list.warnings,
                            refused=str(refusal))


def campaigns_by_priority(campaign_ids: list[str] | None = None) -> list[Campaign]:
    from laoke.campaigns import get_campaign, load_campaigns

    if not campaign_ids:
        return list(load_campaigns().values())
    return sorted((get_campaign(c) for c in campaign_ids), key=lambda c: (-c.priority, c.id))


def export_campaigns(campaign_ids: list[str] | None, warehouse: Path, out_dir: Path, gbk: bool = False) -> list:
    """Exports campaigns one after another, highest priority first, so that when campaigns
    compete for the frequency cap the higher priority keeps the customer. A refused or empty
    list writes nothing; the others go on."""
    return [export_campaign(c, warehouse, out_dir, gbk) for c in campaigns_by_priority(campaign_ids)]
