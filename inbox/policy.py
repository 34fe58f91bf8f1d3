"""The settings the domain needs, handed in by the hub (the domain never reads configuration itself)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from inbox.business_hours import BusinessHours, Calendars


@dataclass(frozen=True, slots=True)
class InboxPolicy:
    default_region: str = "RU"
    business_hours: BusinessHours = field(default_factory=BusinessHours.always)
    # Teams that keep their own hours (`[business_hours.teams."<name>"]`), by team name.
    team_hours: Mapping[str, BusinessHours] = field(default_factory=dict)
    first_response_sla: timedelta = timedelta(hours=1)
    # Where attachment bytes are kept (content-addressed); None keeps only their metadata and hash.
    attachments_dir: Path | None = None
    # What the domain writes in words (callback task titles) goes through the hub's gettext in its UI
    # language; the msgids are English, so without a catalog the text is English.
    gettext: Callable[[str], str] = str
    # Leads (``[routing]``): the team a new lead's first dialog goes to instead of its account's team
    # (``new_clients_team``, resolved to its id by the hub at start; a routing rule with a team still
    # wins), and how long after a lead's card gets its owner (the first human reply) the owner's
    # follow-up task is due (``lead_follow_up_hours``; None: no follow-up task).
    new_clients_team_id: int | None = None
    lead_follow_up: timedelta | None = timedelta(hours=24)

    @property
    def calendars(self) -> Calendars:
        """The hub's business hours with the teams' own: a wait is measured on its team's calendar."""
        return Calendars(self.business_hours, self.team_hours)
