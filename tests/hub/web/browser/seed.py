"""A small, believable support inbox for the UI tests and their screenshots: one client who wrote by
e-mail and Telegram and called, a duplicate card of her, and a few other dialogs on every channel, with
notes and replies in each delivery state. Written through the domain's own services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.runtime import Hub
from inbox import contacts
from inbox.conversations import set_status
from inbox.ingest import IngestResult, ingest
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import Agent, Call, ChannelAccount, Conversation, Message, Team
from inbox.replies import add_reply
from tests.hub.web.browser.conftest import make_person


@dataclass(frozen=True, slots=True)
class Seeded:
    irina: int  # her card
    telegram: int  # her open Telegram dialog
    email: int  # her resolved e-mail dialog
    duplicate: int  # the other card of hers
    failed: int  # a dialog whose reply failed
    anna: int
    boris: int


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


async def _account(hub: Hub, name: str, kind: str) -> int:
    """An account of a channel the test hub does not run (nothing is sent), routed to the sales team."""
    async with hub.sessionmaker() as session:
        team = await session.scalar(select(Team.id).where(Team.name == "Продажи"))
        row = ChannelAccount(name=name, kind=kind, team_id=team)
        session.add(row)
        await session.commit()
        return row.id


async def _in(
    hub: Hub,
    account: int,
    external: str,
    text: str,
    *identities: IdentityRef,
    name: str | None = None,
    subject: str | None = None,
    at: datetime | None = None,
) -> IngestResult:
    item = InboundMessage(
        account_id=account,
        external_id=external,
        sender=Sender(identities, name=name),
        text=text,
        subject=subject,
        sent_at=at,
    )
    async with hub.sessionmaker() as session:
        return await ingest(session, item, hub.policy)


async def _out(
    hub: Hub,
    conversation: int,
    agent_id: int,
    text: str,
    *,
    note: bool = False,
    status: str | None = None,
    error: str | None = None,
    at: datetime | None = None,
) -> int:
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, conversation)
        agent = await session.get_one(Agent, agent_id)
        message, _ = await add_reply(session, conv, agent, text, note=note, policy=hub.policy)
        if status is not None:
            message.delivery_status = status
            message.delivery_error = error
        if at is not None:
            message.created_at = at
        await session.commit()
        return message.id


async def seed(hub: Hub) -> Seeded:
    await hub.outbox.stop()  # the seeded replies keep the delivery states given here
    anna = await make_person(hub, "anna@tea.example", "Анна Петрова", role="supervisor", teams=("Продажи",))
    boris = await make_person(hub, "boris@tea.example", "Борис Смирнов", teams=("Продажи",))
    await make_person(hub, "olga@tea.example", "Ольга Кузнецова", teams=("Продажи",))
    mail = await _account(hub, "mail", "email")
    tg = await _account(hub, "tg", "telegram")
    vk = await _account(hub, "vk", "vk")
    site = hub.accounts["site"].context.id
    shop = hub.accounts["shop"].context.id

    email = IdentityRef("email", "irina.sokolova@mail.ru")
    first = await _in(
        hub,
        mail,
        "<m1@mail.ru>",
        "Добрый день!\nПришлите, пожалуйста, счёт на оплату заказа № 1042 для ИП Соколова.",
        email,
        name="Ирина Соколова",
        subject="Счёт на оплату заказа № 1042",
        at=ago(days=3, hours=2),
    )
    await _out(
        hub,
        first.conversation_id,
        anna,
        "Ирина, добрый день! Счёт во вложении.",
        status="delivered",
        at=ago(days=3, hours=1),
    )
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, first.conversation_id)
        await set_status(session, conv, "resolved", actor_id=anna, policy=hub.policy)
        card = await contacts.get_contact(session, first.contact_id)
        await contacts.add_identity(session, card, "phone", "+7 916 123-45-67", region="RU", actor_id=anna)
        session.add_all(
            [
                Call(
                    account_id=mail,
                    call_id="c-1",
                    contact_id=card.id,
                    direction="inbound",
                    from_number="+79161234567",
                    started_at=ago(days=1, hours=3),
                    ended_at=ago(days=1, hours=3),
                    wait_seconds=41,
                    disposition="missed",
                ),
                Call(
                    account_id=mail,
                    call_id="c-2",
                    contact_id=card.id,
                    agent_id=boris,
                    direction="outbound",
                    to_number="+79161234567",
                    started_at=ago(days=1, hours=2),
                    answered_at=ago(days=1, hours=2),
                    ended_at=ago(days=1, hours=2),
                    talk_seconds=192,
                    disposition="answered",
                ),
            ]
        )
        await session.commit()

    tg_ids = (IdentityRef("telegram", "5512345"), IdentityRef("phone", "+79161234567"))
    opened = await _in(
        hub,
        tg,
        "tg-1",
        "Здравствуйте! Заказ 1042 ещё не пришёл, хотя обещали вчера.",
        *tg_ids,
        name="Ирина",
        at=ago(hours=3),
    )
    await _out(
        hub,
        opened.conversation_id,
        boris,
        "Проверил в СДЭК: посылка в Твери, ждёт сортировки. Позвонил клиентке вчера.",
        note=True,
        at=ago(hours=2, minutes=50),
    )
    await _out(
        hub,
        opened.conversation_id,
        anna,
        "Ирина, здравствуйте! Посылка в Твери, завтра до 18:00 будет у вас. Трек: 10428831.",
        status="sent",
        at=ago(hours=2, minutes=40),
    )
    await _in(
        hub,
        tg,
        "tg-2",
        "Спасибо! А можно доставить до двери, а не в пункт выдачи?",
        *tg_ids,
        at=ago(minutes=12),
    )

    other = await _in(
        hub,
        shop,
        "crm-1",
        "Оформила заказ на сайте, подтвердите, пожалуйста.",
        IdentityRef("external", "shop:crm-881"),
        name="Ирина Соколова",
        at=ago(days=5),
    )
    async with hub.sessionmaker() as session:
        twin = await contacts.get_contact(session, other.contact_id)
        await contacts.add_identity(
            session, twin, "email", "irina.sokolova@mail.ru", region="RU", actor_id=anna
        )
        await session.commit()

    v1 = IdentityRef("webchat", "visitorDmitryVolkov0001")
    await _in(
        hub,
        site,
        "d-1",
        "Добрый вечер! Есть ли у вас шу пуэр 2015 года?",
        v1,
        name="Дмитрий Волков",
        at=ago(minutes=40),
    )
    await _in(hub, site, "d-2", "И сколько стоит доставка в Казань?", v1, at=ago(minutes=38))
    vector = await _in(
        hub,
        mail,
        "<v1@vector.ru>",
        "Коллеги, нужен прайс для оптовых закупок от 50 кг.",
        IdentityRef("email", "s.orlov@vector.ru"),
        name="Сергей Орлов (ООО «Вектор»)",
        subject="Оптовый прайс",
        at=ago(hours=5),
    )
    await _out(
        hub,
        vector.conversation_id,
        boris,
        "Сергей, добрый день! Прайс отправим до конца дня.",
        status="queued",
        at=ago(hours=4),
    )
    async with hub.sessionmaker() as session:
        await set_status(
            session,
            await session.get_one(Conversation, vector.conversation_id),
            "pending",
            actor_id=boris,
            policy=hub.policy,
        )
        await session.commit()
    maria = await _in(
        hub,
        vk,
        "vk-1",
        "Подскажите, чем отличается тегуаньинь от те гуань инь ван?",
        IdentityRef("vk", "881234"),
        name="Мария Лебедева",
        at=ago(hours=7),
    )
    await _out(
        hub,
        maria.conversation_id,
        anna,
        "Мария, это один сорт, «ван» — высшая категория.",
        status="failed",
        error="VK: пользователь запретил сообщения от сообщества",
        at=ago(hours=6),
    )
    await _in(
        hub,
        shop,
        "crm-2",
        "Можно ли вернуть нераспечатанную пачку?",
        IdentityRef("external", "shop:crm-902"),
        name="Алексей Никитин",
        at=ago(days=1),
    )
    await _in(
        hub,
        site,
        "g-1",
        "Здравствуйте, вы работаете в выходные?",
        IdentityRef("webchat", "visitorGuest00000000007"),
        at=ago(days=2),
    )
    async with hub.sessionmaker() as session:  # list times as if it all happened when the messages say
        for conv in await session.scalars(select(Conversation)):
            times = [
                m.sent_at if m.direction == "in" and m.sent_at else m.created_at
                for m in await session.scalars(select(Message).where(Message.conversation_id == conv.id))
                if m.direction != "note"
            ]
            conv.last_message_at = max(times)
        await session.commit()
    return Seeded(
        first.contact_id,
        opened.conversation_id,
        first.conversation_id,
        other.contact_id,
        maria.conversation_id,
        anna,
        boris,
    )
