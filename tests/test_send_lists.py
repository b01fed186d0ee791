"""build_send_list on the demo store: each recipient's message, send time and group, row by row."""

from __future__ import annotations

import pandas as pd
import pytest

from laoke.campaigns import get_campaign
from laoke.holdout import holdout_fraction
from laoke.messages import render
from laoke.send_lists import build_send_list, tier_display_names
from laoke.send_slots import assign_send_times


@pytest.fixture(scope="module")
def brand_care(demo_warehouse):
    """A campaign with a template and an offer per segment (new, old, sleeping)."""
    return build_send_list(get_campaign("brand_care_monthly"), demo_warehouse)


def test_each_message_is_the_recipients_own_render(brand_care, read_warehouse):
    campaign = brand_care.campaign
    products = dict(read_warehouse.execute("select product_id, product_name from main.products").fetchall())
    treatment = brand_care.treatment
    assert treatment["segment"].nunique() > 1
    for row in treatment.itertuples(index=False):
        expected = render(campaign.template_for(row.segment),
                          {"name": row.name, "tier": tier_display_names().get(row.tier, row.tier), "coupon": campaign.coupon,
                           "product": products.get(row.product_id)},
                          offer=campaign.offer_for(row.segment))
        assert (row.message, row.message_chars, row.message_segments, row.offer_in_preview) == \
            (expected.text, expected.chars, expected.segments, expected.offer_in_preview), row.customer_id


def test_send_slots_go_out_by_holdout_fraction_then_customer_id(brand_care):
    treatment = brand_care.treatment.sort_values(["holdout_fraction", "customer_id"])
    expected = assign_send_times(len(treatment), brand_care.send_date)
    assert list(treatment["send_at"]) == expected


def test_holdout_members_get_no_message_or_send_time_and_the_split_is_the_python_one(brand_care):
    recipients = brand_care.recipients
    assert recipients["customer_id"].is_monotonic_increasing and recipients.index.equals(pd.RangeIndex(len(recipients)))
    holdout = brand_care.holdout
    assert len(holdout) == brand_care.rule_counts["holdout"] > 0
    assert holdout[["send_at", "message", "message_chars", "message_segments", "offer_in_preview"]].isna().all().all()
    assert brand_care.treatment[["send_at", "message", "message_chars"]].notna().all().all()
    share = brand_care.campaign.holdout_share
    for row in recipients.itertuples(index=False):
        assert row.holdout_fraction == pytest.approx(holdout_fraction(brand_care.campaign.id, row.customer_id), abs=1e-12)
        assert (row.treatment_group == "holdout") == (row.holdout_fraction < share)


def test_messages_name_tiers_as_customers_read_them(brand_care):
    messages = " ".join(brand_care.treatment["message"].dropna())
    names = tier_display_names()
    assert "会员" in messages and any(f"{name}会员" in messages for name in names.values())
    for code, name in names.items():
        if code != name:
            assert f"{code}会员" not in messages
