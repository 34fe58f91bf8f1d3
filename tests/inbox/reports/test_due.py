"""The SLA due time of a waiting client, for the inbox list: from the open wait's start, by its team's
targets, on the wall clock or on the team's working-time calendar; a breach once it has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import BusinessHours, Calendars
from inbox.models import ChannelAccount, Contact, Conversation, ReportWait, Team
from inbox.reports.due import open_dues
from inbox.reports.figures import SlaBook, SlaTargets

MSK = ZoneInfo("Europe/Moscow")
FRIDAY_1730 = datetime(2026, 3, 6, 17, 30, tzinfo=MSK).astimezone(UTC)
WORKDAYS = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}


async def conversation(
    session: AsyncSession, team: Team | None, *waits: tuple[str, datetime, str | None]
) -> int:
    account = ChannelAccount(name=f"acc{id(waits)}", kind="api")
    contact = Contact(name="x", tags=[], custom_fields={})
    session.add_all([account, contact])
    await session.flush()
    conv = Conversation(contact_id=contact.id, account_id=account.id, channel_kind="api")
    conv.team_id = team.id if team else None
    session.add(conv)
    await session.flush()
    for kind, started, outcome in waits:
        session.add(
            ReportWait(
                kind=kind,
                conversation_id=conv.id,
                channel_kind="api",
                team_id=conv.team_id,
                started_at=started,
                outcome=outcome,
            )
        )
    await session.commit()
    return conv.id


async def test_due_is_the_earliest_open_wait_plus_its_teams_threshold_and_breached_once_past(
    session: AsyncSession,
) -> None:
    vip = Team(name="VIP")
    session.add(vip)
    await session.flush()
    start = FRIDAY_1730
    plain = await conversation(
        session, None, ("first_response", start, None), ("reply", start, None), ("resolution", start, None)
    )
    fast = await conversation(session, vip, ("reply", start, None))
    answered = await conversation(session, None, ("reply", start, "replied"))
    book = SlaBook(
        SlaTargets(first_response=3600, reply=7200),
        {"VIP": SlaTargets(first_response=600, reply=900)},
    )
    now = start + timedelta(minutes=30)
    dues = await open_dues(
        session, [plain, fast, answered], sla=book, calendars=Calendars(BusinessHours.always()), now=now
    )
    assert set(dues) == {plain, fast}  # an answered wait is due nothing
    assert (dues[plain].kind, dues[plain].due_at, dues[plain].breached) == (
        "first_response",
        start + timedelta(hours=1),
        False,
    )
    assert (dues[fast].due_at, dues[fast].breached) == (start + timedelta(minutes=15), True)


async def test_on_working_time_a_friday_evening_wait_is_due_on_monday_by_its_teams_calendar(
    session: AsyncSession,
) -> None:
    night = Team(name="Night")
    session.add(night)
    await session.flush()
    day_conv = await conversation(session, None, ("reply", FRIDAY_1730, None))
    night_conv = await conversation(session, night, ("reply", FRIDAY_1730, None))
    book = SlaBook(SlaTargets(reply=3600, business_hours=True))
    calendars = Calendars(
        BusinessHours.from_config("Europe/Moscow", WORKDAYS),
        {"Night": BusinessHours.from_config("Europe/Moscow", {"fri": "18:00-23:00"})},
    )
    dues = await open_dues(
        session, [day_conv, night_conv], sla=book, calendars=calendars, now=FRIDAY_1730 + timedelta(hours=2)
    )
    # The hub's hours: 30 minutes left on Friday, the other 30 on Monday morning.
    assert dues[day_conv].due_at == datetime(2026, 3, 9, 9, 30, tzinfo=MSK)
    assert not dues[day_conv].breached
    # Night starts at 18:00 on Friday: due at 19:00, two hours later it is breached.
    assert dues[night_conv].due_at == datetime(2026, 3, 6, 19, 0, tzinfo=MSK)
    assert dues[night_conv].breached


def test_moment_after_skips_holidays_and_closed_days_and_gives_up_on_an_empty_calendar() -> None:
    hours = BusinessHours.from_config(
        "Europe/Moscow", WORKDAYS, [datetime(2026, 3, 9).date()]
    )  # Monday 9 March off
    assert hours.moment_after(FRIDAY_1730, 3600) == datetime(2026, 3, 10, 9, 30, tzinfo=MSK)
    assert hours.moment_after(FRIDAY_1730, 0) == datetime(2026, 3, 6, 17, 30, tzinfo=MSK)
    assert BusinessHours.from_config("UTC", {}).moment_after(FRIDAY_1730, 60) is None
