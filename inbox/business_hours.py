"""Business hours: when the team works, and how many working seconds lie between two moments.

Reports give every duration twice, in wall-clock seconds and in business-hours seconds, so a mail that
came in on Friday night and was answered on Monday morning does not count as a 60-hour response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str = "Europe/Moscow"
    # weekday (0 = Monday) → list of (start, end) local times
    week: Mapping[int, Sequence[tuple[time, time]]] = field(default_factory=dict)
    # Local dates on which nobody works, whatever the weekday says.
    holidays: frozenset[date] = frozenset()

    @classmethod
    def always(cls) -> BusinessHours:
        whole = [(time(0, 0), time(23, 59, 59, 999999))]
        return cls("UTC", {d: whole for d in range(7)})

    @classmethod
    def from_config(
        cls, timezone: str, days: Mapping[str, str], holidays: Sequence[date] = ()
    ) -> BusinessHours:
        """`days` maps "mon".."sun" to "09:00-18:00" (several ranges comma-separated, "" = closed)."""
        ZoneInfo(timezone)  # raises for an unknown zone now, not at the first report
        week: dict[int, list[tuple[time, time]]] = {}
        for name, spec in days.items():
            key = name.strip().lower()[:3]
            if key not in DAY_NAMES:
                raise ValueError(f"unknown day {name!r} in business hours (use mon..sun)")
            ranges = []
            for part in filter(None, (p.strip() for p in spec.split(","))):
                start, _, end = part.partition("-")
                start_t, end_t = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
                if end_t <= start_t:
                    raise ValueError(f"business hours range {part!r} ends before it starts")
                ranges.append((start_t, end_t))
            week[DAY_NAMES.index(key)] = ranges
        return cls(timezone, week, frozenset(holidays))

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        return any(s <= local.time() < e for s, e in self.week.get(local.weekday(), ()))

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); 0 when end is not after start."""
        if end <= start:
            return 0.0
        zone = ZoneInfo(self.timezone)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        total = 0.0
        day = local_start.date()
        while day <= local_end.date():
            for s, e in () if day in self.holidays else self.week.get(day.weekday(), ()):
                open_at = datetime.combine(day, s, zone)
                close_at = datetime.combine(day, e, zone)
                lo, hi = max(open_at, local_start), min(close_at, local_end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def moment_after(self, start: datetime, seconds: float) -> datetime | None:
        """The moment `seconds` working seconds after `start` (a due time on the working-time clock); None
        when the calendar has no working time within a year and a week."""
        zone = ZoneInfo(self.timezone)
        local_start = start.astimezone(zone)
        left = max(0.0, seconds)
        day = local_start.date()
        for _ in range(372):
            for s, e in () if day in self.holidays else self.week.get(day.weekday(), ()):
                open_at = max(datetime.combine(day, s, zone), local_start)
                close_at = datetime.combine(day, e, zone)
                if close_at <= open_at:
                    continue
                span = (close_at - open_at).total_seconds()
                if left <= span:
                    return open_at.astimezone(start.tzinfo) + timedelta(seconds=left)
                left -= span
            day += timedelta(days=1)
        return None


@dataclass(frozen=True, slots=True)
class Calendars:
    """The hub's business hours and those of the teams that set their own (by team name)."""

    default: BusinessHours = field(default_factory=BusinessHours.always)
    teams: Mapping[str, BusinessHours] = field(default_factory=dict)

    def of(self, team: str | None) -> BusinessHours:
        """The calendar of the team named `team` (None: no team), the hub's unless it set its own."""
        return self.teams.get(team, self.default) if team is not None else self.default
