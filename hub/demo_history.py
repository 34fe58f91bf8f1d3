"""A month of the demo's past, so the Reports pages have something to show on the first run.

Forty-odd conversations over the thirty days before today, written as `okno import history` lines and
replayed through the same importer (cards, threading, the reports' facts at their own times): clients
write mostly in working hours, agents answer after minutes or hours (overnight and over the weekend),
some write again, a few come back after a resolve.

And the phone line's month, as the PBX's call records (`okno ingest sip` hands in the same CallEvent
records): calls mostly in working hours with a morning and an afternoon peak, through three advertised
numbers (each an ad source), answered by the sales agents' extensions; the missed ones (more in the
evening and at the weekend) mostly called back within hours, a few never. Some of the month's new leads
became clients. Deterministic: the same demo every time.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.calls import CallSettings, ingest_call
from inbox.contacts import update_contact
from inbox.history import HistoryImport, parse_line
from inbox.items import CallEvent
from inbox.models import Agent, Contact
from inbox.policy import InboxPolicy

CONVERSATIONS = 45
NAMES = (
    "Анна Смирнова",
    "Игорь Петров",
    "Светлана Ким",
    "Олег Волков",
    "Ксения Лебедева",
    "John Carter",
    "Павел Морозов",
    "Елена Новикова",
    "Rita Gomez",
    "Артём Соловьёв",
    "Наталья Зайцева",
    "Максим Попов",
)
QUESTIONS = (
    "Здравствуйте! Где мой заказ № {n}? Обещали доставить вчера.",
    "Добрый день, пришлите, пожалуйста, счёт на оплату по договору {n}.",
    "Не могу войти в личный кабинет, пишет «неверный пароль».",
    "Hello, can I return item {n}? It does not fit.",
    "Сколько стоит тариф «Бизнес» на 5 операторов?",
    "Подскажите, есть ли доставка в Казань и сколько она идёт?",
    "Hi! Is the discount still valid for order {n}?",
    "Оплатил картой, а заказ всё ещё «ожидает оплаты». Номер {n}.",
)
ANSWERS = (
    "Добрый день! Проверили — заказ уже у курьера, привезёт сегодня до 18:00.",
    "Здравствуйте! Счёт отправили вам на почту, продублирую сюда.",
    "Сбросили пароль, ссылка для входа пришла вам на почту.",
    "Hi! Yes, returns are free within 14 days — I have sent you the label.",
    "«Бизнес» на 5 операторов — 9 900 ₽ в месяц, первые две недели бесплатно.",
    "Да, в Казань доставляем за 2–3 дня, стоимость 390 ₽.",
)
# account → (the agents who answer there, the contact's identity kind)
ACCOUNTS: Mapping[str, tuple[tuple[str, ...], str]] = {
    "demo-email": (("maria@okno.example", "supervisor@okno.example"), "email"),
    "demo-webchat": (("maria@okno.example",), "email"),
    "demo-api": (("maria@okno.example", "supervisor@okno.example"), "email"),
    "demo-telegram": (("kate@okno.example",), "phone"),
    "demo-vk": (("kate@okno.example",), "phone"),
}


def lines(today: datetime, zone: str, seed: int = 2026) -> list[dict[str, Any]]:
    """The month's events, oldest first (each conversation's own lines in order)."""
    rnd = random.Random(seed)
    local_zone = ZoneInfo(zone)
    midnight = today.astimezone(local_zone).replace(hour=0, minute=0, second=0, microsecond=0)
    out: list[tuple[datetime, int, dict[str, Any]]] = []
    for n in range(CONVERSATIONS):
        key = f"demo-history-{n}"
        account = rnd.choice(sorted(ACCOUNTS))
        agents, identity = ACCOUNTS[account]
        day = midnight - timedelta(days=rnd.randint(1, 30))
        # Mostly in working hours; one in five in the evening or at night.
        hour = rnd.randint(9, 17) if rnd.random() < 0.8 else rnd.choice((7, 20, 22, 23))
        start = day + timedelta(hours=hour, minutes=rnd.randint(0, 59))
        contact = {"name": NAMES[n % len(NAMES)]}
        contact[identity] = f"client{n}@example.net" if identity == "email" else f"+7916200{n:04d}"
        events: list[dict[str, Any]] = [
            {
                "type": "message",
                "direction": "in",
                "account": account,
                "contact": contact,
                "at": start,
                "text": rnd.choice(QUESTIONS).format(n=4000 + n),
            }
        ]
        at = start
        for turn in range(rnd.choice((1, 1, 2, 2, 3))):
            if turn:
                at += timedelta(minutes=rnd.randint(3, 120))
                events.append(
                    {"type": "message", "direction": "in", "at": at, "text": "Спасибо! А ещё вопрос…"}
                )
            at += _reply_delay(rnd, at.astimezone(local_zone))
            events.append(_answer(rnd, agents, at, rnd.choice(ANSWERS)))
        at += timedelta(minutes=rnd.randint(10, 600))
        events.append({"type": "resolve", "at": at})
        if rnd.random() < 0.1:  # the client comes back
            at += timedelta(days=rnd.randint(1, 3))
            events.append(
                {"type": "message", "direction": "in", "at": at, "text": "Снова здравствуйте, не пришло."}
            )
            at += _reply_delay(rnd, at.astimezone(local_zone))
            events.append(_answer(rnd, agents, at, "Проверили ещё раз и отправили повторно."))
            at += timedelta(hours=1)
            events.append({"type": "resolve", "at": at})
        for i, event in enumerate(events):
            if event["at"] < midnight:  # the month ends yesterday: today is the live demo's
                out.append((event["at"], i, {**event, "conversation": key, "at": event["at"].isoformat()}))
    # Conversation by conversation, each in its own order (a conversation's first line must come first).
    return [line for _, _, line in sorted(out, key=lambda e: (e[2]["conversation"], e[1]))]


def _answer(rnd: random.Random, agents: Sequence[str], at: datetime, text: str) -> dict[str, Any]:
    """A human reply by one of the account's agents."""
    return {"type": "message", "direction": "out", "agent": rnd.choice(agents), "at": at, "text": text}


def _reply_delay(rnd: random.Random, local: datetime) -> timedelta:
    """Minutes in working hours; the next morning for a message written at night or at the weekend."""
    if local.weekday() >= 5 or not 9 <= local.hour < 18:
        days = 1 if local.hour >= 18 or local.weekday() >= 5 else 0
        if local.weekday() == 5:
            days = 2
        morning = (local + timedelta(days=days)).replace(hour=9, minute=rnd.randint(5, 50))
        return max(morning - local, timedelta(minutes=5))
    return timedelta(minutes=rnd.choice((2, 4, 7, 12, 18, 25, 40, 65, 90, 150)))


async def replay(
    sessionmaker: async_sessionmaker[AsyncSession], policy: InboxPolicy, events: Sequence[dict[str, Any]]
) -> int:
    """Import the month; returns how many lines were applied."""
    importer = HistoryImport(policy)
    applied = 0
    for line in events:
        event, digest = parse_line(json.dumps(line, ensure_ascii=False))
        async with sessionmaker() as session:
            applied += not (await importer.apply(session, event, digest)).duplicate
    return applied


PHONE_ACCOUNT = "demo-phone"
# The numbers the ads show (DIDs): the number a client dialled tells which ad brought them.
DID_SOURCES: Mapping[str, str] = {
    "+74951234567": "Сайт",
    "+74951234568": "Яндекс Директ",
    "+74951234569": "Авито",
}
DID_WEIGHTS = (5, 3, 2)
# The extensions that answer the phone line (its team is Sales): agent → extension.
EXTENSIONS: Mapping[str, str] = {"kate@okno.example": "101", "admin@okno.example": "102"}
CALL_HOURS = tuple(range(8, 21))
CALL_HOUR_WEIGHTS = (1, 3, 6, 7, 5, 2, 4, 6, 5, 3, 2, 1, 1)  # a morning and an afternoon peak
CALLERS = 70  # a pool of numbers: some clients call more than once


def calls(today: datetime, zone: str, account_id: int, seed: int = 2027) -> list[CallEvent]:
    """The phone line's call records of the thirty days before today, oldest first."""
    rnd = random.Random(seed)
    local_zone = ZoneInfo(zone)
    midnight = today.astimezone(local_zone).replace(hour=0, minute=0, second=0, microsecond=0)
    callers = [f"+7903555{n:04d}" for n in range(CALLERS)]
    extensions = sorted(EXTENSIONS.values())
    records: list[CallEvent] = []
    for back in range(30, 0, -1):
        day = midnight - timedelta(days=back)  # wall-clock arithmetic: local midnight, DST or not
        weekend = day.weekday() >= 5
        for n in range(rnd.randint(0, 2) if weekend else rnd.randint(3, 8)):
            hour = rnd.choices(CALL_HOURS, CALL_HOUR_WEIGHTS)[0]
            start = day + timedelta(hours=hour, minutes=rnd.randint(0, 59), seconds=rnd.randint(0, 59))
            caller = rnd.choice(callers)
            did = rnd.choices(sorted(DID_SOURCES), DID_WEIGHTS)[0]
            wait = rnd.randint(3, 35)
            call_id = f"demo-call-{back}-{n}"
            base = _cdr(account_id, call_id, "inbound", caller, did, start, wait, did=did)
            late = weekend or hour >= 18
            if rnd.random() < (0.4 if late else 0.12):
                ended = start + timedelta(seconds=wait)
                name = rnd.choice(NAMES) if rnd.random() < 0.3 else None  # the PBX's caller name
                records.append(
                    replace(base, ended_at=ended, talk_seconds=0, disposition="missed", caller_name=name)
                )
                if rnd.random() < 0.85:  # called back: within minutes, or the next working morning
                    back_at = ended + _reply_delay(rnd, ended.astimezone(local_zone))
                    records.append(_callback(rnd, account_id, f"{call_id}-back", caller, did, back_at))
                continue
            talk = rnd.randint(40, 540)
            answered = start + timedelta(seconds=wait)
            records.append(
                replace(
                    base,
                    extension=rnd.choice(extensions),
                    answered_at=answered,
                    ended_at=answered + timedelta(seconds=talk),
                    talk_seconds=talk,
                    disposition="answered",
                )
            )
    records = [r for r in records if r.started_at is not None and r.started_at < midnight]
    return sorted(records, key=lambda r: (r.started_at or midnight, r.call_id))


def _cdr(
    account_id: int,
    call_id: str,
    direction: Literal["inbound", "outbound"],
    from_number: str,
    to_number: str,
    started_at: datetime,
    wait_seconds: int,
    *,
    did: str | None = None,
) -> CallEvent:
    """A PBX's record of one call (a CDR line), before its outcome is filled in."""
    return CallEvent(
        account_id=account_id,
        call_id=call_id,
        event_id=f"{call_id}:cdr",
        stage="record",
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        did=did,
        started_at=started_at,
        wait_seconds=wait_seconds,
    )


def _callback(
    rnd: random.Random, account_id: int, call_id: str, number: str, line: str, at: datetime
) -> CallEvent:
    """An agent's outbound call to a client who could not get through, answered."""
    wait, talk = rnd.randint(5, 20), rnd.randint(60, 420)
    return replace(
        _cdr(account_id, call_id, "outbound", line, number, at, wait),
        extension=rnd.choice(sorted(EXTENSIONS.values())),
        answered_at=at + timedelta(seconds=wait),
        ended_at=at + timedelta(seconds=wait + talk),
        talk_seconds=talk,
        disposition="answered",
    )


async def replay_calls(
    sessionmaker: async_sessionmaker[AsyncSession], policy: InboxPolicy, records: Sequence[CallEvent]
) -> int:
    """Give the phone agents their extensions, take in the month's call records in order, then make
    every third of the month's new lead cards a client. Returns the number of calls taken."""
    settings = CallSettings(did_sources=DID_SOURCES)
    async with sessionmaker() as session:
        for email, extension in EXTENSIONS.items():
            agent = await session.scalar(select(Agent).where(Agent.email == email))
            if agent is not None:
                agent.extension = extension
        await session.commit()
    async with sessionmaker() as session:  # one transaction: the demo's start-up waits for it
        for record in records:
            await ingest_call(session, record, policy, settings)
        await session.commit()
    if not records:
        return 0
    last = max(r.started_at for r in records if r.started_at is not None)
    async with sessionmaker() as session:
        closer = await session.scalar(select(Agent.id).where(Agent.email == "kate@okno.example"))
        leads = await session.scalars(
            select(Contact)
            .where(Contact.kind == "lead", Contact.merged_into_id.is_(None), Contact.created_at <= last)
            .order_by(Contact.id)
        )
        for n, card in enumerate(list(leads)):
            if n % 3 == 0:
                await update_contact(session, card, {"kind": "client"}, actor_id=closer)
        await session.commit()
    return len(records)
