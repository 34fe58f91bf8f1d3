"""The calls report (answered, missed, callback time, calls by hour) and the leads report (per ad source)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import BusinessHours
from inbox.calls import CallSettings, ingest_call
from inbox.items import CallEvent
from inbox.models import Agent, ChannelAccount, Contact, ReportingEvent, Team
from inbox.reports.build import ReportRequest, build_report
from inbox.reports.figures import SlaTargets

# Wed 4 March 2026, 15:00 in Moscow (UTC+3).
MISSED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
DID = "+74951234567"
SETTINGS = CallSettings.from_options({"did_sources": {DID: "Яндекс.Директ"}})


async def setup(session: AsyncSession) -> ChannelAccount:
    team = Team(name="Продажи")
    session.add(team)
    await session.flush()
    account = ChannelAccount(name="pbx", kind="sip", team_id=team.id)
    session.add_all(
        [account, Agent(email="boris@example.com", name="Борис", password_hash="-", extension="101")]
    )
    await session.commit()
    return account


def call(account: ChannelAccount, call_id: str, stage: str, at: datetime, **fields: Any) -> CallEvent:
    data: dict[str, Any] = {
        "direction": "inbound",
        "from_number": "+79139097332",
        "to_number": DID,
        "did": DID,
    }
    data.update(fields)
    return CallEvent(
        account_id=account.id, call_id=call_id, event_id=f"{call_id}-{stage}", stage=stage, at=at, **data
    )  # type: ignore[arg-type]


async def report(session: AsyncSession, name: str, **options: Any) -> list[dict[str, Any]]:
    request = ReportRequest(name=name, start=date(2026, 3, 2), end=date(2026, 3, 8), **options)
    built = await build_report(session, request, sla=SlaTargets(), hours=BusinessHours.always())
    return built.rows


async def test_a_missed_call_its_callback_and_calls_by_hour(session: AsyncSession) -> None:
    account = await setup(session)
    events = [
        call(account, "c1", "hangup", MISSED, started_at=MISSED - timedelta(seconds=20)),  # missed, rang 20 s
        call(account, "c2", "ring", MISSED + timedelta(minutes=40)),  # the client calls again …
        call(
            account, "c2", "answer", MISSED + timedelta(minutes=40, seconds=5), extension="101"
        ),  # … answered
        call(account, "c2", "hangup", MISSED + timedelta(minutes=45, seconds=5)),
    ]
    for item in events:
        await ingest_call(session, item, settings=SETTINGS)
        await session.commit()

    [total] = await report(session, "calls")
    assert (total["count"], total["inbound"], total["answered"], total["missed"], total["missed_pct"]) == (
        2,
        1 + 1,
        1,
        1,
        50.0,
    )
    assert total["talk_median"] == 300.0
    # From the missed call's start (15:00 local minus its 20 s of ringing) to the answer.
    assert (total["callbacks"], total["callback_median"]) == (1, 40 * 60 + 5.0)
    by_hour = {row["group"]: row for row in await report(session, "calls", by="hour")}
    assert sorted(by_hour) == list(range(24))  # every hour, zeros included: a chart for planning shifts
    assert (by_hour[14]["count"], by_hour[15]["count"]) == (1, 1)  # 14:59:40 and 15:40 local


async def test_leads_per_ad_source_and_how_many_became_clients(session: AsyncSession) -> None:
    account = await setup(session)
    await ingest_call(session, call(account, "c1", "hangup", MISSED), settings=SETTINGS)
    await ingest_call(
        session, call(account, "c2", "hangup", MISSED, from_number="+79160000001"), settings=SETTINGS
    )
    await session.commit()
    contacts = list(await session.scalars(select(Contact).order_by(Contact.id)))
    assert len(contacts) == 2
    contacts[0].kind = "client"
    await session.commit()
    rows = await report(session, "leads", by="source")
    assert rows == [{"group": "Яндекс.Директ", "new_leads": 2, "became_clients": 1}]


async def test_counts_by_day_hour_and_weekday_are_local_in_whole_and_fractional_hour_zones(
    session: AsyncSession,
) -> None:
    """Whole-hour zones are counted from UTC hours, others (India +5:30, Nepal +5:45) per row: the same."""
    account = await setup(session)
    moments = [datetime(2026, 3, 4, 0, 0, tzinfo=UTC) + timedelta(minutes=37 * i) for i in range(120)]
    for i, at in enumerate(moments):
        session.add(
            ReportingEvent(name="message_received", occurred_at=at, account_id=account.id, channel_kind="sip")
        )
        if i % 3 == 0:
            session.add(
                ReportingEvent(
                    name="conversation_opened", occurred_at=at, account_id=account.id, channel_kind="sip"
                )
            )
    await session.commit()
    for zone in ("Europe/Moscow", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"):
        for by in ("day", "hour", "weekday"):
            rows = await report(session, "volume", timezone=zone, by=by)
            expected: dict[Any, list[int]] = {}
            for i, at in enumerate(moments):
                local = at.astimezone(ZoneInfo(zone))
                key: Any = {"day": local.date().isoformat(), "hour": local.hour}.get(by)
                key = (
                    ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()] if key is None else key
                )
                counts = expected.setdefault(key, [0, 0])
                counts[0] += i % 3 == 0
                counts[1] += 1
            got = {r["group"]: [r["new_conversations"], r["inbound"]] for r in rows if r["inbound"]}
            assert got == expected, (zone, by)
