"""Send-list building blocks: each rule, the control group, send slots, messages, campaign config."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laoke.campaigns import load_campaign
from laoke.errors import LaokeError
from laoke.holdout import is_holdout
from laoke.messages import render, sms_segments
from laoke.send_rules import RuleContext, apply_send_rules
from laoke.send_slots import SlotRules, assign_send_times

SEND_DATE = date(2026, 11, 3)  # a Tuesday


def members(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": ["a", "b", "c"],
        "e164": ["+8613800000001", "+8613800000002", "+8613800000003"],
        "phone_class": ["valid_mobile"] * 3,
        "is_blacklisted": [False] * 3,
        "is_opted_out": [False] * 3,
        "last_purchase_date": [pd.NaT] * 3,
    }
    base.update(overrides)
    return pd.DataFrame(base)


def context(**overrides) -> RuleContext:
    values = dict(send_date=SEND_DATE, recent_buyer_days=7, promotion_buyers=frozenset(), prior_sends={},
                  prior_campaigns={}, cap_messages=3, sendable_classes=("valid_mobile", "virtual_operator"))
    values.update(overrides)
    return RuleContext(**values)


@pytest.mark.parametrize(
    ("frame", "ctx", "rule", "dropped"),
    [
        (members(phone_class=["landline", "valid_mobile", "invalid_length"]), context(), "invalid_phone", ["a", "c"]),
        (members(e164=[None, "+8613800000002", "+8613800000003"]), context(), "invalid_phone", ["a"]),
        (members(is_blacklisted=[False, True, False]), context(), "blacklisted", ["b"]),
        (members(is_opted_out=[True, False, False]), context(), "opted_out", ["a"]),
        (members(last_purchase_date=pd.to_datetime(["2026-10-27", "2026-10-26", None])), context(), "recent_buyer", ["a"]),
        (members(), context(promotion_buyers=frozenset({"c"})), "already_bought_in_promotion", ["c"]),
        (members(e164=["+8613800000001", "+8613800000001", "+8613800000003"]), context(), "duplicate_phone", ["b"]),
        (members(), context(prior_sends={"+8613800000001": 3, "+8613800000002": 2},
                            prior_campaigns={"+8613800000001": "x,y,z"}), "frequency_cap", ["a"]),
    ],
    ids=["landline_and_short", "no_phone", "blacklist", "opt_out", "bought_in_last_7_days",
         "bought_in_this_promotion", "same_phone_twice", "cap_3_per_30_days_including_this_one"],
)
def test_each_send_rule_drops_and_counts(frame, ctx, rule, dropped):
    kept, counts, exclusions = apply_send_rules(frame, ctx)
    assert counts[rule] == len(dropped)
    assert sorted(exclusions.loc[exclusions["rule"] == rule, "customer_id"]) == dropped
    assert sum(counts.values()) + len(kept) == len(frame)  # nothing lost without a trace


def test_capped_member_names_the_campaigns_that_took_the_slots():
    _, _, exclusions = apply_send_rules(members(), context(prior_sends={"+8613800000001": 3},
                                                           prior_campaigns={"+8613800000001": "birthday_week,winback"}))
    assert exclusions.loc[0, "detail"] == "capped by birthday_week,winback"


def test_recent_buyer_rule_can_be_switched_off_per_campaign():
    frame = members(last_purchase_date=pd.to_datetime(["2026-11-02", None, None]))
    _, counts, _ = apply_send_rules(frame, context(recent_buyer_days=0))
    assert counts["recent_buyer"] == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["valid_mobile", "landline", "virtual_operator", "missing"]),
                          st.booleans(), st.booleans(), st.integers(0, 40), st.integers(0, 5),
                          st.integers(0, 4)), min_size=1, max_size=40))
def test_no_kept_member_breaks_any_rule(rows):
    frame = pd.DataFrame({
        "customer_id": [f"c{i:03d}" for i in range(len(rows))],
        "e164": [f"+86138000000{r[5]:02d}" for r in rows],
        "phone_class": [r[0] for r in rows],
        "is_opted_out": [r[1] for r in rows],
        "is_blacklisted": [r[2] for r in rows],
        "last_purchase_date": [pd.Timestamp(SEND_DATE - timedelta(days=r[3])) for r in rows],
    })
    prior = {f"+86138000000{r[5]:02d}": r[4] for r in rows}
    kept, counts, exclusions = apply_send_rules(frame, context(prior_sends=prior))
    assert not kept["is_opted_out"].any() and not kept["is_blacklisted"].any()
    assert kept["phone_class"].isin(["valid_mobile", "virtual_operator"]).all()
    assert (pd.to_datetime(kept["last_purchase_date"]) < pd.Timestamp(SEND_DATE - timedelta(days=7))).all()
    assert kept["e164"].is_unique
    assert all(prior[p] + 1 <= 3 for p in kept["e164"])
    assert len(kept) + len(exclusions) == len(frame)


def test_holdout_is_stable_and_independent_across_campaigns():
    ids = [f"C{i:07d}" for i in range(20000)]
    first = [is_holdout("winback", c, 0.1) for c in ids]
    assert first == [is_holdout("winback", c, 0.1) for c in ids]  # rerun: same split
    share = sum(first) / len(ids)
    assert abs(share - 0.1) < 0.01
    other = [is_holdout("birthday", c, 0.1) for c in ids]
    both = sum(a and b for a, b in zip(first, other)) / len(ids)
    assert abs(both - 0.01) < 0.004  # independent: P(both) = 0.1 x 0.1


def test_send_slots_avoid_monday_morning_and_friday_afternoon():
    monday, friday = date(2026, 11, 2), date(2026, 11, 6)
    assert all(t.time() >= time(12) for t in assign_send_times(300, monday))
    assert all(t.time() < time(12) for t in assign_send_times(300, friday))


def test_send_slots_spread_within_windows_and_rate():
    rules = SlotRules.from_settings()
    times = assign_send_times(2000, SEND_DATE, rules)
    per_slot = Counter(times)
    assert max(per_slot.values()) <= rules.max_per_slot
    assert max(per_slot.values()) - min(per_slot.values()) <= 1  # evenly spread
    assert all(any(a <= t.time() < b for a, b in rules.windows) for t in times)
    spilled = assign_send_times(rules.max_per_slot * len(per_slot) + 1, SEND_DATE, rules)
    assert spilled[-1].date() > SEND_DATE  # a full day spills into the next one


def test_event_reminder_window_never_spills():
    window = (datetime(2026, 11, 11, 15), datetime(2026, 11, 11, 17))
    times = assign_send_times(100, date(2026, 11, 11), window=window)
    assert all(window[0] <= t < window[1] for t in times)
    with pytest.raises(LaokeError, match="do not fit"):
        assign_send_times(10**6, date(2026, 11, 11), window=window)


def test_sms_segments_70_single_67_per_part():
    assert sms_segments("字" * 70) == 1
    assert sms_segments("字" * 71) == 2
    assert sms_segments("字" * 134) == 2
    assert sms_segments("字" * 135) == 3


def test_message_has_signature_opt_out_and_offer_in_preview():
    message = render("满199减60券已到账：{name}", {"name": "李薇"}, offer="满199减60")
    assert message.text.startswith("【老客美妆】满199减60") and message.text.endswith("回T退订")
    assert message.offer_in_preview and message.segments == 1
    late = render("{name}您好，我们为您准备了很多惊喜，详情请看：满199减60", {"name": "李薇"}, offer="满199减60")
    assert not late.offer_in_preview
    assert render("Hi {name}", {"name": None}).text == "【老客美妆】Hi 亲 回T退订"  # no "None", no placeholder
    assert render("Hi {name}", {"name": "  "}).text == "【老客美妆】Hi 亲 回T退订"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("id: bad\nname: x\npurpose: win_back\naudience: {mart: nope}\nmessages: {default: hi}\n", "field audience.mart"),
        ("id: bad\nname: x\npurpose: win_back\naudience: {}\nmessages: {default: 'hi {phone}'}\n", "field messages"),
        ("id: bad\nname: x\npurpose: sales\naudience: {}\nmessages: {default: hi}\n", "field purpose"),
        ("id: bad\nname: x\npurpose: win_back\naudience: {}\nmessages: {default: hi}\nholdout_share: 1.5\n", "field holdout_share"),
        ("id: other\nname: x\npurpose: win_back\naudience: {}\nmessages: {default: hi}\n", "must equal the file name"),
        ("id: bad\nname: [\n", "not valid YAML"),
        ("id: bad\nname: x\npurpose: win_back\naudience: {where: '1=1; drop table x'}\nmessages: {default: hi}\n", "field audience.where"),
    ],
)
def test_campaign_config_errors_name_file_and_field(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(LaokeError, match=message) as error:
        load_campaign(path)
    assert str(path) in str(error.value)


def test_shipped_campaigns_are_valid():
    from laoke.campaigns import load_campaigns

    campaigns = load_campaigns()
    purposes = {c.purpose for c in campaigns.values()}
    assert {"brand_care", "repurchase", "referral", "win_back", "birthday", "promotion"} <= purposes
    assert list(campaigns) == sorted(campaigns, key=lambda c: (-campaigns[c].priority, c))
