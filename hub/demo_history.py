"""A month of the demo's past, so the Reports pages have something to show on the first run.

Forty-odd conversations over the thirty days before today, written as `okno import history` lines and
replayed through the same importer (cards, threading, the reports' facts at their own times): clients
write mostly in working hours, agents answer after minutes or hours (overnight and over the weekend),
some write again, a few come back after a resolve. Deterministic: the same demo every time.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.history import HistoryImport, parse_line
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
