"""Sample data for `okno demo`: two teams, four people, and client conversations on every channel kind.

Inbound messages go through the real ingest path (`inbox.ingest`) as InboundMessage items, the API ones
through the API channel's own parser; a missed call as a CallEvent record through `inbox.calls`; replies
and notes through `inbox.replies.add_reply`.

Every demo channel account is a ChannelAccount row made here, so its conversations display; only the API
account is also configured (and so started by the supervisor): no e-mail box, bot or PBX is connected.
Replies in the sample history are marked delivered, as if their channel had sent them.

The passwords below are DEMO ONLY: they are printed by `okno demo` and must never guard real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.api import parse as parse_api
from hub import demo_history
from inbox.agents import create_agent, hash_password_async, team_by_name
from inbox.calls import CallSettings, ingest_call
from inbox.contacts import add_identity, get_contact, update_contact
from inbox.conversations import set_status
from inbox.ingest import IngestResult, ingest
from inbox.items import CallEvent, IdentityKind, IdentityRef, InboundMessage, MessageKind, Sender
from inbox.models import (
    Agent,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    Outbox,
    utcnow,
)
from inbox.policy import InboxPolicy
from inbox.replies import add_reply

SUPPORT = "Поддержка"  # Support
SALES = "Продажи"  # Sales


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    email: str
    password: str  # demo only
    name: str
    teams: tuple[str, ...]


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "admin@okno.example", "demo-admin", "Ольга Белова", (SUPPORT, SALES)),
    DemoLogin("supervisor", "supervisor@okno.example", "demo-supervisor", "Дмитрий Орлов", (SUPPORT,)),
    DemoLogin("agent", "maria@okno.example", "demo-agent-1", "Мария Иванова", (SUPPORT,)),
    DemoLogin("agent", "kate@okno.example", "demo-agent-2", "Kate Miller", (SALES,)),
)

# name → (kind, team). Every channel kind the hub knows or plans has one.
DEMO_ACCOUNTS: dict[str, tuple[str, str]] = {
    "demo-email": ("email", SUPPORT),
    "demo-telegram": ("telegram", SALES),
    "demo-vk": ("vk", SALES),
    "demo-webchat": ("webchat", SUPPORT),
    "demo-phone": ("sip", SALES),
    "demo-api": ("api", SUPPORT),
}


@dataclass(frozen=True, slots=True)
class DemoData:
    logins: tuple[DemoLogin, ...]
    api_account: str
    accounts: dict[str, int]
    agents: dict[str, int]
    contacts: int
    conversations: int
    channel_kinds: tuple[str, ...]
    results: dict[str, IngestResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Inbound:
    key: str
    account: str
    external_id: str
    identities: tuple[tuple[IdentityKind, str], ...]
    name: str | None
    text: str
    minutes_ago: int
    subject: str | None = None
    references: tuple[str, ...] = ()
    username: str | None = None
    kind: MessageKind = "message"


# The inbound history, oldest first. `key` names an item for the replies below.
INBOUND: tuple[_Inbound, ...] = (
    _Inbound(
        "invoice",
        "demo-email",
        "<20240601.1@mail.example.ru>",
        (("email", "Ivan.Petrov@example.ru"),),
        "Иван Петров",
        "Здравствуйте!\n\nНе пришёл счёт за май, хотя оплата по договору № 17/24 прошла. "
        "Пришлите, пожалуйста, копию.\n\nС уважением,\nИван Петров, ООО «Северный ветер»",
        2 * 24 * 60,
        subject="Не пришёл счёт за май",
    ),
    _Inbound(
        "invoice-2",
        "demo-email",
        "<20240602.7@mail.example.ru>",
        (("email", "ivan.petrov@example.ru"),),
        "Иван Петров",
        "Добрый день! Напоминаю про счёт — бухгалтерия ждёт его сегодня.",
        26 * 60,
        subject="Re: Не пришёл счёт за май",
        references=("<20240601.1@mail.example.ru>",),
    ),
    _Inbound(
        "emma",
        "demo-email",
        "<CAF7x1@mail.example.co.uk>",
        (("email", "emma.clark@example.co.uk"),),
        "Emma Clark",
        "Hello,\n\nCould you send me a copy of invoice INV-2291? Our accounts team cannot find it.\n\n"
        "Thanks,\nEmma",
        9 * 60,
        subject="Invoice copy, please",
    ),
    _Inbound(
        "maria-mail",
        "demo-email",
        "<m.sokolova.1@mail.example.ru>",
        (("email", "maria.sokolova@example.ru"),),
        "Мария Соколова",
        "Добрый день. Заказ № 5531 до сих пор не доставлен, курьер не отвечает. Что с ним?",
        5 * 60,
        subject="Где мой заказ № 5531?",
    ),
    _Inbound(
        "tariff",
        "demo-telegram",
        "tg:1001",
        (("telegram", "310457812"),),
        "Алексей Ковалёв",
        "Здравствуйте! Сколько стоит тариф «Бизнес» на 10 операторов?",
        4 * 60,
        username="alexey_k",
    ),
    _Inbound(
        "tariff-2",
        "demo-telegram",
        "tg:1002",
        (("telegram", "310457812"),),
        "Алексей Ковалёв",
        "И можно ли подключить два номера телефона?",
        4 * 60 - 2,
        username="alexey_k",
    ),
    _Inbound(
        "shipping",
        "demo-telegram",
        "tg:1003",
        (("telegram", "552901334"),),
        "John Smith",
        "Hi! Do you ship to Kazakhstan? How long does delivery take?",
        95,
        username="jsmith",
    ),
    _Inbound(
        "vk-order",
        "demo-vk",
        "vk:77101",
        (("vk", "210987654"),),
        "Светлана Орлова",
        "Добрый день! Можно оформить заказ прямо здесь, во ВКонтакте? Интересует набор «Старт».",
        3 * 60,
    ),
    _Inbound(
        "vk-en",
        "demo-vk",
        "vk:77102",
        (("vk", "198765432"),),
        "Lena Fischer",
        "Hello, is the spring discount still valid?",
        40,
    ),
    _Inbound(
        "login",
        "demo-webchat",
        "wc:v-8f3a2c:1",
        (("webchat", "v-8f3a2c"),),
        None,
        "Hello, I can't log in to my account — it says my password is wrong.",
        70,
    ),
    _Inbound(
        "password",
        "demo-webchat",
        "wc:v-19bd07:1",
        (("webchat", "v-19bd07"),),
        "Павел",
        "Подскажите, как сменить пароль в личном кабинете?",
        12,
    ),
    _Inbound(
        "voicemail",
        "demo-phone",
        "call:demo-0001",
        (("phone", "8 (913) 909-73-32"),),
        "Мария Соколова",
        "Пропущенный вызов, голосовое сообщение (расшифровка): «Перезвоните, пожалуйста, по поводу "
        "доставки заказа».",
        3 * 60,
    ),
    _Inbound(
        "voicemail-en",
        "demo-phone",
        "call:demo-0002",
        (("phone", "+44 20 7946 0958"),),
        "David Brown",
        "Voicemail (transcript): “Hi, this is David from Acme. Please call me back about the quote.”",
        50,
    ),
)

# Generic API payloads as a shop would POST them (parsed by the API channel's own parser).
API_PAYLOADS: tuple[tuple[str, dict[str, object], int], ...] = (
    (
        "api-address",
        {
            "external_id": "order-1001-msg-1",
            "sender": {
                "name": "Ольга Смирнова",
                "email": "olga.smirnova@example.ru",
                "external_id": "cust-42",
            },
            "text": "Заказ № 1001: хочу изменить адрес доставки на ул. Ленина, 5.",
        },
        80,
    ),
    (
        "api-refund",
        {
            "external_id": "order-1002-msg-1",
            "sender": {"name": "Tom Baker", "phone": "+1 202 555 0143", "external_id": "cust-77"},
            "text": "Order #1002: the parcel arrived damaged. How do I get a refund?",
        },
        25,
    ),
)


async def _accounts(session: AsyncSession, teams: dict[str, int]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name, (kind, team) in DEMO_ACCOUNTS.items():
        row = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == name))
        if row is None:
            row = ChannelAccount(name=name, kind=kind)
            session.add(row)
        elif row.kind != kind:
            raise ValueError(f"account {name!r} exists as a {row.kind} account")
        row.team_id = teams[team]
        await session.flush()
        ids[name] = row.id
    return ids


async def _reply(
    session: AsyncSession,
    policy: InboxPolicy,
    conversation_id: int,
    agent_id: int,
    text: str,
    *,
    note: bool = False,
) -> Message:
    conv = await session.get_one(Conversation, conversation_id)
    agent = await session.get_one(Agent, agent_id)
    message, _events = await add_reply(session, conv, agent, text, note=note, policy=policy)
    if not note:  # sample history: as if the channel had delivered it
        now = utcnow()
        await session.execute(
            update(Outbox)
            .where(Outbox.message_id == message.id)
            .values(status="sent", attempts=1, sent_at=now),
            execution_options={"synchronize_session": False},
        )
        message.delivery_status = "delivered"
        message.sent_at = now
        message.external_id = f"demo-out-{message.id}"
    await session.commit()
    return message


async def load_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    policy: InboxPolicy,
    *,
    api_account: str = "demo-api",
) -> DemoData:
    """Fill an empty, migrated database with the demo's sample data."""
    if api_account not in DEMO_ACCOUNTS:
        raise ValueError(f"the demo's API account is one of its own: {api_account!r} is not")
    now = utcnow()
    hashes = {login.email: await hash_password_async(login.password) for login in DEMO_LOGINS}  # argon2 first
    async with sessionmaker() as session:
        teams = {name: (await team_by_name(session, name, create=True)).id for name in (SUPPORT, SALES)}
        agents: dict[str, int] = {}
        for login in DEMO_LOGINS:
            agent = await create_agent(
                session,
                email=login.email,
                name=login.name,
                password=login.password,
                password_hash=hashes[login.email],
                role=login.role,
                team_names=login.teams,
            )
            agents[login.email] = agent.id
        accounts = await _accounts(session, teams)
        await session.commit()

    results: dict[str, IngestResult] = {}
    async with sessionmaker() as session:
        for msg in INBOUND:
            item = InboundMessage(
                account_id=accounts[msg.account],
                external_id=msg.external_id,
                sender=Sender(
                    tuple(IdentityRef(kind, value) for kind, value in msg.identities),
                    name=msg.name,
                    username=msg.username,
                ),
                text=msg.text,
                subject=msg.subject,
                sent_at=now - timedelta(minutes=msg.minutes_ago),
                references=msg.references,
                kind=msg.kind,
            )
            results[msg.key] = await ingest(session, item, policy)
        for key, payload, minutes_ago in API_PAYLOADS:
            body = {**payload, "sent_at": (now - timedelta(minutes=minutes_ago)).isoformat()}
            item = parse_api(
                body, account_id=accounts[api_account], account_name=api_account, region=policy.default_region
            )
            results[key] = await ingest(session, item, policy)

    maria = agents["maria@okno.example"]
    kate = agents["kate@okno.example"]
    supervisor = agents["supervisor@okno.example"]
    async with sessionmaker() as session:
        conv = results["invoice"].conversation_id
        await _reply(
            session,
            policy,
            conv,
            maria,
            "Иван, добрый день! Копию счёта за май отправила вложением. Оригинал выйдет почтой завтра.",
        )
        await _reply(
            session,
            policy,
            conv,
            maria,
            "Клиент на тарифе «Про», оплата прошла 28-го — бухгалтерии сообщила.",
            note=True,
        )
        emma = results["emma"].conversation_id
        await _reply(session, policy, emma, maria, "Hi Emma, the copy of INV-2291 is attached. Best, Maria")
        await set_status(
            session, await session.get_one(Conversation, emma), "resolved", actor_id=maria, policy=policy
        )
        await session.commit()
        await _reply(
            session,
            policy,
            results["tariff"].conversation_id,
            kate,
            "Алексей, здравствуйте! «Бизнес» на 10 операторов — 19 900 ₽ в месяц, два номера подключаем "
            "без доплаты. Прислать договор?",
        )
        await _reply(
            session,
            policy,
            results["login"].conversation_id,
            maria,
            "Visitor says the password is wrong; suggested the reset link, waiting for an answer.",
            note=True,
        )
        await _reply(
            session,
            policy,
            results["api-address"].conversation_id,
            supervisor,
            "Ольга, адрес в заказе № 1001 изменили. Курьер привезёт заказ завтра с 10 до 14.",
        )

    # The same person wrote by e-mail and called from her phone: two cards, until an agent adds the
    # e-mail she named in her voicemail to the phone card. The shared identity lists them as duplicates.
    async with sessionmaker() as session:
        phone_card = await get_contact(session, results["voicemail"].contact_id)
        await add_identity(
            session,
            phone_card,
            "email",
            "Maria.Sokolova@example.ru",
            region=policy.default_region,
            actor_id=kate,
        )
        # A supervisor makes Kate responsible for the card; then the PBX's record of the missed call comes
        # in: the call domain matches the card by its number, reports the miss and opens her a callback.
        await update_contact(session, phone_card, {"owner_id": kate}, actor_id=supervisor)
        await session.commit()
        started = now - timedelta(minutes=3 * 60 + 1)
        await ingest_call(
            session,
            CallEvent(
                account_id=accounts["demo-phone"],
                call_id="demo-0001",
                event_id="demo-0001:cdr",
                stage="record",
                direction="inbound",
                from_number="8 (913) 909-73-32",
                to_number="+7 495 123-45-67",
                did="+7 495 123-45-67",
                started_at=started,
                ended_at=started + timedelta(seconds=25),
                wait_seconds=25,
                talk_seconds=0,
                disposition="missed",
            ),
            policy,
            CallSettings(did_sources=demo_history.DID_SOURCES),
        )
        await session.commit()

    # A month of the past for the Reports pages (imported like `okno import history`).
    await demo_history.replay(sessionmaker, policy, demo_history.lines(now, policy.business_hours.timezone))
    await demo_history.replay_calls(
        sessionmaker,
        policy,
        demo_history.calls(now, policy.business_hours.timezone, accounts[demo_history.PHONE_ACCOUNT]),
    )

    async with sessionmaker() as session:
        contacts = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.merged_into_id.is_(None))
        )
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        kinds = await session.scalars(select(Conversation.channel_kind).distinct())
        channel_kinds = tuple(sorted(kinds))
    return DemoData(
        logins=DEMO_LOGINS,
        api_account=api_account,
        accounts=accounts,
        agents=agents,
        contacts=int(contacts or 0),
        conversations=int(conversations or 0),
        channel_kinds=channel_kinds,
        results=results,
    )
