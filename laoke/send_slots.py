"""Send times: every recipient gets a time inside the allowed windows, spread evenly, no slot over
the configured rate, never on Monday morning or Friday afternoon (seeds 002, 003)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from laoke.errors import LaokeError
from laoke.settings import rule


@dataclass(frozen=True)
class SlotRules:
    windows: tuple[tuple[time, time], ...]
    blackouts: tuple[tuple[int, time, time], ...]  # (weekday, from, to); to = 24:00 as time.max
    slot_minutes: int
    max_per_slot: int

    @classmethod
    def from_settings(cls) -> "SlotRules":
        return cls(
            windows=tuple((_time(a), _time(b)) for a, b in rule("send_windows")),
            blackouts=tuple((int(b["weekday"]), _time(b["from"]), _time(b["to"])) for b in rule("send_blackouts")),
            slot_minutes=int(rule("send_slot_minutes")),
            max_per_slot=int(rule("send_slot_max_messages")),
        )


def _time(text: str) -> time:
    return time.max if text in ("24:00", "24:00:00") else time.fromisoformat(text)


def _blacked_out(moment: datetime, rules: SlotRules) -> bool:
    return any(moment.weekday() == day and start <= moment.time() < end for day, start, end in rules.blackouts)


def slots_between(start: datetime, end: datetime, rules: SlotRules) -> list[datetime]:
    step = timedelta(minutes=rules.slot_minutes)
    slots, moment = [], start
    while moment < end:
        if not _blacked_out(moment, rules):
            slots.append(moment)
        moment += step
    return slots


def slots_on(day: date, rules: SlotRules) -> list[datetime]:
    slots: list[datetime] = []
    for window_start, window_end in rules.windows:
        slots += slots_between(datetime.combine(day, window_start), datetime.combine(day, window_end), rules)
    return slots


def assign_send_times(count: int, send_date: date, rules: SlotRules | None = None,
                      window: tuple[datetime, datetime] | None = None, max_days: int = 14) -> list[datetime]:
    """Send times for `count` recipients in order: spread evenly over the day's slots, spilling
    into the next days when a day is full. A fixed window (an event reminder) never spills."""
    return list(send_times(count, send_date, rules, window, max_days).to_pydatetime())


def send_times(count: int, send_date: date, rules: SlotRules | None = None,
               window: tuple[datetime, datetime] | None = None, max_days: int = 14) -> pd.DatetimeIndex:
    """assign_send_times() as a DatetimeIndex, built without a Python object per recipient."""
    rules = rules or SlotRules.from_settings()
    if count == 0:
        return pd.DatetimeIndex([], dtype="datetime64[us]")
    times: list[pd.DatetimeIndex] = []
    remaining = count
    days = [send_date] if window else [send_date + timedelta(days=i) for i in range(max_days)]
    for day in days:
        slots = slots_between(window[0], window[1], rules) if window else slots_on(day, rules)
        if not slots:
            continue
        today = min(remaining, len(slots) * rules.max_per_slot)
        # recipient i of today's n goes to slot floor(i * S / n): even spread, at most ceil(n / S) a slot
        slot_of_recipient = np.arange(today, dtype=np.int64) * len(slots) // today
        times.append(pd.DatetimeIndex(slots).take(slot_of_recipient))
        remaining -= today
        if remaining == 0:
            return times[0].append(times[1:])  # the days' times, one after another
    where = f"window {window[0]:%Y-%m-%d %H:%M}-{window[1]:%H:%M}" if window else f"{max_days} days from {send_date}"
    raise LaokeError(
        f"{count:,} recipients do not fit in the send slots of {where} at {rules.max_per_slot} per "
        f"{rules.slot_minutes}-minute slot; raise send_slot_max_messages or split the campaign"
    )
