"""Runs triggered by something other than the clock: the promotion calendar and new landing files.

* `build_campaign_calendar_sensor(job)`: DOMAIN.md's calendar — warm-up 1–3 days before each event
  (ask to favourite / add to cart) and a reminder 3–5 hours before it starts. The events are the
  dbt seed `dbt_project/seeds/promotion_calendar.csv`, read from the file rather than from
  `reference.promotion_calendar` so the sensor never opens the warehouse (a build may hold it). An
  event starts at `starts_on` + `starts_at_time` in the store's timezone. At each evaluation, every
  window that contains the current time yields one RunRequest with run_key `<event_id>:<kind>` and
  tags campaign_kind (warm_up | reminder) and event_id; the cursor keeps the keys already requested
  (pruned once the event has started), so each fires once even if Dagster's own run-key
  deduplication is reset. A window missed while the sensor was off is not caught up after it closes.
  The target job is a parameter: the warehouse build for now, the campaign jobs later.
* `build_landing_sensor(job)`: a fingerprint (file name, size, mtime) of the files the loader reads
  (laoke.landing.find_landing_files) is kept in the cursor; a change requests a run, with the
  fingerprint's digest as run_key. Files modified in the last `settle_seconds` are taken as still
  being written and the sensor waits for the next evaluation.

Both take a `clock` (a function returning an aware datetime) so tests evaluate them at any time.
No `from __future__ import annotations` here or in assets.py: Dagster reads the annotations of
sensor/asset parameters (context, resources, config) when decorating, and string annotations fail.
"""

import csv
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Union
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from laoke.errors import LaokeError
from laoke.landing import find_landing_files
from laoke.settings import DBT_PROJECT_DIR, rule

from orchestration.assets import build_run_config, store_today
from orchestration.campaign_assets import campaign_job
from orchestration.jobs import warehouse_build_job
from orchestration.resources import LaokeWarehouse

Clock = Callable[[], datetime]
Job = Union[dg.JobDefinition, UnresolvedAssetJobDefinition]  # what define_asset_job returns

PROMOTION_CALENDAR = DBT_PROJECT_DIR / "seeds" / "promotion_calendar.csv"
# DOMAIN.md "Campaigns": warm-up 1–3 days before an event, reminder 3–5 hours before it starts.
# (window start, window end) before the event's start; both ends included.
CAMPAIGN_WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "warm_up": (timedelta(days=3), timedelta(days=1)),
    "reminder": (timedelta(hours=5), timedelta(hours=3)),
}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# --- campaign calendar -----------------------------------------------------------------------

@dataclass(frozen=True)
class PromotionEvent:
    event_id: str
    event_name: str
    starts_at: datetime  # aware, store timezone


@dataclass(frozen=True)
class CalendarTick:
    event: PromotionEvent
    kind: str  # a key of CAMPAIGN_WINDOWS
    opens_at: datetime
    closes_at: datetime

    @property
    def run_key(self) -> str:
        return f"{self.event.event_id}:{self.kind}"


def read_promotion_calendar(path: Path = PROMOTION_CALENDAR) -> list[PromotionEvent]:
    """The seed's events with their start as an aware datetime in the store's timezone."""
    tz = ZoneInfo(rule("store_timezone"))
    events = []
    with open(path, encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                starts = datetime.combine(date.fromisoformat(row["starts_on"]),
                                          time.fromisoformat(row.get("starts_at_time") or "00:00"), tzinfo=tz)
            except (KeyError, TypeError, ValueError) as exc:
                raise LaokeError(f"{path}, line {line}: bad starts_on/starts_at_time ({exc})") from None
            events.append(PromotionEvent(row["event_id"], row["event_name"], starts))
    return events


def calendar_ticks(events: Iterable[PromotionEvent]) -> list[CalendarTick]:
    """Every (event, kind) window, in time order."""
    ticks = [
        CalendarTick(event, kind, event.starts_at - before_open, event.starts_at - before_close)
        for event in events
        for kind, (before_open, before_close) in CAMPAIGN_WINDOWS.items()
    ]
    return sorted(ticks, key=lambda t: (t.opens_at, t.run_key))


def open_ticks(ticks: Iterable[CalendarTick], now: datetime) -> list[CalendarTick]:
    return [t for t in ticks if t.opens_at <= now <= t.closes_at]


def _fired(cursor: str | None) -> set[str]:
    if not cursor:
        return set()
    try:
        return set(json.loads(cursor).get("fired", []))
    except (ValueError, AttributeError):
        return set()


def build_campaign_calendar_sensor(
    job: Job,
    *,
    name: str = "campaign_calendar_sensor",
    calendar_path: Path = PROMOTION_CALENDAR,
    clock: Clock = _utc_now,
    minimum_interval_seconds: int = 15 * 60,
    run_config: Callable[[CalendarTick, datetime], dict] | None = None,
) -> dg.SensorDefinition:
    """A sensor requesting `job` once per warm-up and once per reminder window of each event.

    run_config(tick, now) builds each request's run config; the default suits the warehouse jobs
    (load_date = today in store time). A campaign job passes its own.
    """
    make_config = run_config or (lambda tick, now: build_run_config(load_date=store_today(now)))

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Warm-up (1–3 days before) and reminder (3–5 hours before) runs for each event of "
        "dbt_project/seeds/promotion_calendar.csv.",
    )
    def _campaign_calendar(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = clock()
        try:
            events = read_promotion_calendar(calendar_path)
        except (OSError, LaokeError) as exc:
            return dg.SensorResult(skip_reason=f"cannot read the promotion calendar: {exc}", cursor=context.cursor)
        ticks = calendar_ticks(events)
        fired = _fired(context.cursor)
        due = [t for t in open_ticks(ticks, now) if t.run_key not in fired]
        requests = [
            dg.RunRequest(
                run_key=t.run_key,
                run_config=make_config(t, now),
                tags={
                    "campaign_kind": t.kind,
                    "event_id": t.event.event_id,
                    "event_name": t.event.event_name,
                    "laoke/trigger": "campaign_calendar",
                    "laoke/event_starts_at": t.event.starts_at.isoformat(),
                },
            )
            for t in due
        ]
        # Keep only keys whose event has not started: no window of a started event can open again.
        live = {t.run_key for t in ticks if t.event.starts_at > now}
        cursor = json.dumps({"fired": sorted((fired | {r.run_key for r in requests}) & live)})
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        upcoming = [t for t in ticks if t.opens_at > now]
        reason = f"no warm-up or reminder window open at {now.isoformat()}"
        already = [t.run_key for t in open_ticks(ticks, now)]
        if already:
            reason = f"already requested: {', '.join(already)}"
        elif upcoming:
            reason += f"; next: {upcoming[0].run_key} opens {upcoming[0].opens_at.isoformat()}"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)

    return _campaign_calendar


# --- landing folder --------------------------------------------------------------------------

def landing_fingerprint(landing: Path) -> dict[str, list[int]]:
    """{file name: [size in bytes, mtime in ns]} of the files the loader would read."""
    return {
        path.name: [stat.st_size, stat.st_mtime_ns]
        for path in find_landing_files(landing).values()
        for stat in [path.stat()]
    }


def build_landing_sensor(
    job: Job,
    *,
    name: str = "landing_sensor",
    settle_seconds: int = 60,
    clock: Clock = _utc_now,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    """A sensor requesting `job` when the landing folder's files are new or changed."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Rebuild the warehouse when files in the landing folder (LAOKE_LANDING) appear or change.",
    )
    def _landing(context: dg.SensorEvaluationContext, warehouse: LaokeWarehouse) -> dg.SensorResult:
        landing = warehouse.landing
        try:
            fingerprint = landing_fingerprint(landing)
        except LaokeError as exc:
            return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)
        if not fingerprint:
            return dg.SensorResult(skip_reason=f"{landing}: no landing files", cursor=context.cursor)
        state = json.dumps(fingerprint, sort_keys=True)
        if state == context.cursor:
            return dg.SensorResult(skip_reason=f"{landing}: no change in {len(fingerprint)} files since the last "
                                               "requested build", cursor=context.cursor)
        now = clock()
        newest = max(mtime_ns for _, mtime_ns in fingerprint.values()) / 1e9
        if now.timestamp() - newest < settle_seconds:
            return dg.SensorResult(skip_reason=f"{landing}: files changed less than {settle_seconds} s ago; "
                                               "waiting for them to settle", cursor=context.cursor)
        digest = hashlib.sha256(state.encode()).hexdigest()[:16]
        try:
            previous = json.loads(context.cursor) if context.cursor else {}
        except ValueError:
            previous = {}
        changed = sorted(n for n in fingerprint if previous.get(n) != fingerprint[n])
        removed = sorted(set(previous) - set(fingerprint))
        context.log.info(f"landing changed: {changed} removed: {removed}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(
                run_key=f"landing-{digest}",
                run_config=build_run_config(load_date=store_today(now)),
                tags={"laoke/trigger": "landing", "laoke/landing_fingerprint": digest,
                      "laoke/landing_changed": ",".join(changed + removed)[:200]},
            )],
            cursor=state,
        )

    return _landing


# Warm-up and reminder ticks build the campaigns' send lists (each campaign's own dates decide its list).
campaign_calendar_sensor = build_campaign_calendar_sensor(campaign_job)
landing_sensor = build_landing_sensor(warehouse_build_job)

SENSORS = [campaign_calendar_sensor, landing_sensor]
