"""Campaigns are config: campaigns/*.yml validated into Campaign objects with clear errors.

A campaign says who (an audience: a mart and a SQL filter), what (a message template per segment),
when (send date, or an event's warm-up / reminder window), and how it is judged (holdout share,
cost per message, attribution window). Defaults come from dbt_project.yml vars.
"""

from __future__ import annotations

import string
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from laoke.errors import LaokeError
from laoke.settings import PROJECT_ROOT, rule

CAMPAIGNS_DIR = PROJECT_ROOT / "campaigns"

# Marts an audience may select from; each has one or more rows per customer_id.
AUDIENCE_MARTS = (
    "customer_segments", "customer_lifecycle", "customer_rfm", "customer_tags", "member_tiers",
    "repurchase_due", "cross_sell_candidates", "upsell_candidates", "referral_candidates",
    "customer_predictions",
)
TEMPLATE_FIELDS = ("name", "tier", "coupon", "product", "store", "offer")


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mart: str = "customer_segments"
    where: str = "true"
    # A SQL expression over the mart (m.) and customer_segments (s.) naming each member's segment;
    # message templates are chosen by it.
    segment: str = "s.lifecycle_status"
    # Optional SQL expression giving a product id per member, for {product} in templates.
    product_id: str | None = None
    # Seed 001's trap, stated explicitly: an audience of recent buyers is allowed but warned about.
    @field_validator("mart")
    @classmethod
    def known_mart(cls, value: str) -> str:
        if value not in AUDIENCE_MARTS:
            raise ValueError(f"unknown mart {value!r}; one of {', '.join(AUDIENCE_MARTS)}")
        return value

    @field_validator("where", "segment", "product_id")
    @classmethod
    def single_statement(cls, value: str | None) -> str | None:
        if value is not None and ";" in value:
            raise ValueError("a filter is one SQL expression: ';' is not allowed")
        return value


class SendWindow(BaseModel):
    """A one-off window (e.g. the reminder 3-5 hours before an event) that replaces the daily windows."""

    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def ordered(self) -> "SendWindow":
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str
    starts_at: datetime | None = None


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,63}$")
    name: str
    purpose: Literal["brand_care", "repurchase", "referral", "win_back", "birthday", "promotion"]
    channel: Literal["sms", "email", "push"] = "sms"
    priority: int = Field(default=50, ge=0, le=1000)
    audience: Audience
    messages: dict[str, str]
    # The offer that must show in a phone's preview (first ~20 characters): one text, or one per segment.
    offer: str | dict[str, str] | None = None
    coupon: str | None = None
    event: Event | None = None
    send_date: date | None = None
    send_window: SendWindow | None = None
    holdout_share: float = Field(default_factory=lambda: float(rule("holdout_share")), ge=0.0, lt=1.0)
    cost_per_message: float = Field(default_factory=lambda: float(rule("sms_cost_cny")), ge=0.0)
    attribution_window_days: int = Field(default_factory=lambda: int(rule("attribution_window_days")), ge=1)
    exclude_recent_buyers_days: int = Field(default_factory=lambda: int(rule("recent_buyer_days")), ge=0)
    exclude_bought_in_promotion: bool = True
    max_message_segments: int = Field(default=1, ge=1, le=10)
    source_file: str | None = None

    @field_validator("messages")
    @classmethod
    def templates_use_known_fields(cls, messages: dict[str, str]) -> dict[str, str]:
        if not messages:
            raise ValueError("at least one message template is needed (key 'default' or a segment)")
        for segment, template in messages.items():
            for _, field_name, _, _ in string.Formatter().parse(template):
                if field_name is not None and field_name not in TEMPLATE_FIELDS:
                    raise ValueError(
                        f"template for {segment!r} uses {{{field_name}}}; allowed: "
                        + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
                    )
        return messages

    @model_validator(mode="after")
    def consistent(self) -> "Campaign":
        if self.send_window and self.send_date and self.send_window.start.date() != self.send_date:
            raise ValueError("send_window must fall on send_date")
        return self

    def template_for(self, segment: str | None) -> str:
        if segment is not None and segment in self.messages:
            return self.messages[segment]
        if "default" in self.messages:
            return self.messages["default"]
        raise LaokeError(
            f"campaign {self.id}: no message for segment {segment!r} and no 'default' message "
            f"({self.source_file or 'campaign config'})"
        )

    def offer_for(self, segment: str | None) -> str | None:
        if isinstance(self.offer, dict):
            return self.offer.get(segment or "", self.offer.get("default"))
        return self.offer

    def effective_send_date(self, as_of: date) -> date:
        if self.send_window:
            return self.send_window.start.date()
        return self.send_date or date.fromordinal(as_of.toordinal() + 1)


def load_campaign(path: Path) -> Campaign:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise LaokeError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise LaokeError(f"{path}: a campaign file holds one mapping (id, name, purpose, audience, messages, ...)")
    try:
        campaign = Campaign(**raw, source_file=str(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        field_path = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise LaokeError(f"{path}: field {field_path}: {first['msg']}") from None
    if campaign.id != path.stem:
        raise LaokeError(f"{path}: field id: {campaign.id!r} must equal the file name {path.stem!r}")
    return campaign


def load_campaigns(directory: Path = CAMPAIGNS_DIR) -> dict[str, Campaign]:
    """Every campaigns/*.yml, by id; highest priority first, then id."""
    campaigns = [load_campaign(p) for p in sorted(directory.glob("*.yml"))]
    return {c.id: c for c in sorted(campaigns, key=lambda c: (-c.priority, c.id))}


def get_campaign(campaign_id: str, directory: Path = CAMPAIGNS_DIR) -> Campaign:
    path = directory / f"{campaign_id}.yml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yml")))
        raise LaokeError(f"no campaign {campaign_id!r} in {directory} (known: {known})")
    return load_campaign(path)
