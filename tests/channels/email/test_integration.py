"""The whole hub with an e-mail account on a real Dovecot and a real SMTP server.

A customer's mail sent over SMTP reaches the inbox through IDLE; the agent's reply (add_reply + the outbox
worker) reaches the customer's mailbox with threading headers; the customer's answer joins the same
conversation; Dovecot restarted mid-session loses nothing and duplicates nothing; SMTP refusals show on
the message as the outbox's rules say.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TypeVar

import aiosmtplib
from sqlalchemy import func, select

from channels.email.connector import EmailConnector
from hub.runtime import Hub
from inbox.agents import create_agent
from inbox.models import ChannelAccount, Contact, Conversation, Identity, Message, Outbox
from inbox.replies import add_reply
from tests.channels.email.conftest import USERS
from tests.channels.email.servers import Dovecot, MailServer
from tests.waiting import eventually

T = TypeVar("T")


async def start_hub(
    hub_factory: Callable[..., Awaitable[Hub]], dovecot: Dovecot, smtp: MailServer, tmp_path: Path
) -> tuple[Hub, ChannelAccount, EmailConnector]:
    hub = await hub_factory(
        accounts={
            "support": {
                "kind": "email",
                "host": "127.0.0.1",
                "port": dovecot.port,
                "security": "plain",
                "login": "support",
                "password": USERS["support"],
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_security": "plain",
                "from_address": "support@example.com",
                "from_name": "Support",
                "reconnect_max_seconds": 1.0,
            }
        },
        attachments_dir=str(tmp_path / "attachments"),
    )
    async with hub.sessionmaker() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == "support"))
    assert account is not None
    return hub, account, await idle(hub, account.id)


async def idle(hub: Hub, account_id: int) -> EmailConnector:
    """The account's connector, once it waits in IDLE (everything in the mailbox handed in)."""

    async def check() -> EmailConnector | None:
        connector = hub.supervisor.connectors.get(account_id)
        if isinstance(connector, EmailConnector) and connector.ready.is_set() and connector.state == "idle":
            return connector
        return None

    found = await eventually(check, "the e-mail account to be idle")
    assert found is not None
    return found


async def customer_sends(smtp: MailServer, msg: EmailMessage, to: str = "support@example.com") -> None:
    await aiosmtplib.send(
        msg,
        sender=str(msg["From"].addresses[0].addr_spec),
        recipients=[to],
        hostname="127.0.0.1",
        port=smtp.port,
        local_hostname="customer-pc",
    )


def customer_mail(
    subject: str, text: str, sender: str = "customer@example.ru", **headers: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ольга Смирнова <{sender}>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.ru")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def messages(hub: Hub) -> list[Message]:
    async with hub.sessionmaker() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def reply_as_agent(hub: Hub, conversation_id: int, text: str, email: str = "anna@example.com") -> int:
    async with hub.sessionmaker() as session:
        agent = await create_agent(session, email=email, name="Анна Соколова", password="long-password")
        conv = await session.get_one(Conversation, conversation_id)
        message, _ = await add_reply(session, conv, agent, text, policy=hub.policy)
        await session.commit()
        message_id = message.id
    hub.outbox.wake()
    return message_id


async def test_mail_reply_answer_and_a_dovecot_restart(
    hub_factory: Callable[..., Awaitable[Hub]], dovecot: Dovecot, smtp: MailServer, tmp_path: Path
) -> None:
    hub, account, connector = await start_hub(hub_factory, dovecot, smtp, tmp_path)

    # 1. A customer's mail, sent over SMTP into the mailbox, reaches the inbox through IDLE.
    question = customer_mail("Где мой заказ?", "Здравствуйте! Где мой заказ № 4512?")
    await customer_sends(smtp, question)
    [first] = await eventually(lambda: _nonempty(messages(hub)), "the customer's mail in the inbox")
    assert first.direction == "in" and first.kind == "message"
    assert first.external_id == question["Message-ID"].strip("<>")
    assert first.body_text == "Здравствуйте! Где мой заказ № 4512?"
    async with hub.sessionmaker() as session:
        identity = await session.scalar(select(Identity).where(Identity.value == "customer@example.ru"))
        assert identity is not None
        contact = await session.get_one(Contact, identity.contact_id)
        assert contact.name == "Ольга Смирнова"
    assert connector.stats is not None and connector.stats.polls == 0  # it came through IDLE

    # 2. The agent's reply reaches the customer's mailbox, with correct threading headers.
    reply_id = await reply_as_agent(hub, first.conversation_id, "Ольга, добрый день! Заказ в пути.")

    async def delivered() -> tuple[list[EmailMessage], Message] | None:
        async with hub.sessionmaker() as session:
            sent = await session.get_one(Message, reply_id)
        mails = dovecot.messages("customer")
        return (mails, sent) if mails and sent.delivery_status == "sent" else None

    [reply], sent = await eventually(delivered, "the reply in the customer's mailbox, marked sent")
    assert reply["Message-ID"] == f"<{sent.external_id}>"
    assert reply["In-Reply-To"] == question["Message-ID"]
    assert question["Message-ID"] in str(reply["References"]).split()
    assert str(reply["Subject"]) == f"Re: Где мой заказ? [#{first.conversation_id}]"
    [sender] = reply["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Анна Соколова (Support)", "support@example.com")
    [reply_to] = reply["Reply-To"].addresses
    assert reply_to.addr_spec.startswith(f"support+c{first.conversation_id}-")
    assert {p.get_content_type() for p in reply.walk()} >= {"text/plain", "text/html"}

    # 3. The customer's answer to it joins the same conversation (and its quote is folded away).
    answer = customer_mail(
        str(reply["Subject"]).replace("Re:", "RE: Re:", 1),
        "Спасибо!\n\nпн, 3 мар. 2025 г. в 10:00, Анна Соколова <support@example.com>:\n\n"
        "> Ольга, добрый день!\n",
        In_Reply_To=reply["Message-ID"],
        References=f"{question['Message-ID']} {reply['Message-ID']}",
    )
    await customer_sends(smtp, answer, to=reply_to.addr_spec)
    third = await eventually(lambda: _nth(messages(hub), 2), "the customer's answer")
    assert third.conversation_id == first.conversation_id
    assert third.body_text == "Спасибо!"
    assert "> Ольга, добрый день!" in third.meta["full_text"]

    # 4. Dovecot restarted mid-session: what arrives meanwhile is fetched once; nothing is lost.
    await asyncio.to_thread(dovecot.stop)
    while_down = customer_mail("Ещё вопрос", "Пока сервер перезапускался", sender="petr@example.ru")
    await customer_sends(smtp, while_down)
    await asyncio.to_thread(dovecot.start)
    after = customer_mail("И ещё", "После перезапуска", sender="petr@example.ru")
    await customer_sends(smtp, after)
    await eventually(lambda: _nth(messages(hub), 4), "the mail sent during and after the restart")
    await idle(hub, account.id)  # the mailbox is drained: a duplicate would have been handed in by now
    stored = [m for m in await messages(hub) if m.direction == "in"]
    ids = [str(m.external_id) for m in stored]
    expected = [question, answer, while_down, after]
    assert sorted(ids) == sorted(m["Message-ID"].strip("<>") for m in expected)
    async with hub.sessionmaker() as session:
        row = await session.get_one(ChannelAccount, account.id)
        assert json.loads(row.cursor or "")["uid"] == 4  # four mails arrived in the mailbox, each read once
        assert row.state == "running"


async def _nonempty(rows: Awaitable[list[Message]]) -> list[Message] | None:
    found = await rows
    return found or None


async def _nth(rows: Awaitable[list[Message]], index: int) -> Message | None:
    found = await rows
    return found[index] if len(found) > index else None


async def test_smtp_refusals_show_on_the_message(
    hub_factory: Callable[..., Awaitable[Hub]], dovecot: Dovecot, smtp: MailServer, tmp_path: Path
) -> None:
    hub, _, _ = await start_hub(hub_factory, dovecot, smtp, tmp_path)
    await customer_sends(smtp, customer_mail("Вопрос", "?", sender="reject-me@example.ru"))
    await customer_sends(smtp, customer_mail("Вопрос", "?", sender="tempfail-me@example.ru"))
    rows = await eventually(lambda: _nth(messages(hub), 1), "both mails")
    assert rows is not None
    by_sender: dict[str, int] = {}
    for message in await messages(hub):
        by_sender[message.meta["from"]] = message.conversation_id
    rejected = await reply_as_agent(hub, by_sender["reject-me@example.ru"], "Ответ")
    deferred = await reply_as_agent(
        hub, by_sender["tempfail-me@example.ru"], "Ответ", email="boris@example.com"
    )

    async def settled() -> tuple[Message, Message, Outbox] | None:
        async with hub.sessionmaker() as session:
            a = await session.get_one(Message, rejected)
            b = await session.get_one(Message, deferred)
            row = await session.scalar(select(Outbox).where(Outbox.message_id == deferred))
            assert row is not None
            if a.delivery_status == "failed" and row.attempts >= 1 and b.delivery_error:
                return a, b, row
        return None

    failed, retrying, row = await eventually(settled, "both replies to be tried")
    assert failed.delivery_error is not None
    assert "550 5.1.1 <reject-me@example.ru>: Recipient address rejected" in failed.delivery_error
    assert retrying.delivery_status == "queued" and row.status == "pending"
    assert retrying.delivery_error is not None and "451 4.7.1 Greylisted" in retrying.delivery_error


async def test_bounce_of_our_reply_lands_in_its_conversation_without_reopening_it(
    hub_factory: Callable[..., Awaitable[Hub]], dovecot: Dovecot, smtp: MailServer, tmp_path: Path
) -> None:
    hub, _, _ = await start_hub(hub_factory, dovecot, smtp, tmp_path)
    await customer_sends(smtp, customer_mail("Вопрос", "?"))
    first = await eventually(lambda: _nth(messages(hub), 0), "the mail")
    reply_id = await reply_as_agent(hub, first.conversation_id, "Ответ")

    async def sent_id() -> str | None:
        async with hub.sessionmaker() as session:
            message = await session.get_one(Message, reply_id)
            return message.external_id if message.delivery_status == "sent" else None

    ours = await eventually(sent_id, "the reply to be sent")
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, first.conversation_id)
        conv.status = "resolved"
        await session.commit()
    dsn = Path(__file__).parent / "fixtures" / "bounce_dsn_ours.eml"
    dovecot.deliver("support", dsn.read_bytes().replace(b"okno-test-outbound-1@example.com", ours.encode()))
    bounce = await eventually(lambda: _nth(messages(hub), 2), "the bounce")
    assert bounce.kind == "bounce" and bounce.conversation_id == first.conversation_id
    assert bounce.meta["bounce"]["message_ids"] == [ours]
    async with hub.sessionmaker() as session:
        conv = await session.get_one(Conversation, first.conversation_id)
        assert conv.status == "resolved"
        count = await session.scalar(select(func.count()).select_from(Conversation))
        assert count == 1


async def test_bounce_of_our_reply_marks_it_failed_with_the_reason(
    hub_factory: Callable[..., Awaitable[Hub]], dovecot: Dovecot, smtp: MailServer, tmp_path: Path
) -> None:
    hub, _, _ = await start_hub(hub_factory, dovecot, smtp, tmp_path)
    await customer_sends(smtp, customer_mail("Вопрос", "?"))
    first = await eventually(lambda: _nth(messages(hub), 0), "the mail")
    reply_id = await reply_as_agent(hub, first.conversation_id, "Ответ")

    async def sent_id() -> str | None:
        async with hub.sessionmaker() as session:
            message = await session.get_one(Message, reply_id)
            return message.external_id if message.delivery_status == "sent" else None

    ours = await eventually(sent_id, "the reply to be sent")
    dsn = Path(__file__).parent / "fixtures" / "bounce_dsn_ours.eml"
    dovecot.deliver("support", dsn.read_bytes().replace(b"okno-test-outbound-1@example.com", ours.encode()))
    await eventually(lambda: _nth(messages(hub), 2), "the bounce")
    async with hub.sessionmaker() as session:
        failed = await session.get_one(Message, reply_id)
    assert failed.delivery_status == "failed"
    assert failed.delivery_error == (
        "bounced: olga@example.ru: 550 5.1.1 <olga@example.ru>: Recipient address rejected: User unknown"
    )
