"""A web-chat message left in the offline form is answered by e-mail when the widget names a mail account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.web import create_app
from inbox.items import IdentityRef, InboundMessage, Sender
from inbox.models import Outbox
from tests.hub.web.conftest import make_agent

ACCOUNTS: dict[str, dict[str, Any]] = {
    "site": {"kind": "webchat", "title": "Поддержка", "reply_by_email": "mail"},
    # Nothing listens on port 9: the mail connector keeps retrying, which does not matter here.
    "mail": {
        "kind": "email",
        "host": "127.0.0.1",
        "port": 9,
        "security": "plain",
        "login": "support@example.com",
        "password": "x",
    },
}


@pytest.fixture
async def served(
    hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path
) -> AsyncIterator[tuple[Hub, TestClient[Any, Any]]]:
    hub = await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "files"))
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield hub, client


def from_visitor(hub: Hub, external_id: str, *, offline: bool) -> InboundMessage:
    return InboundMessage(
        account_id=hub.accounts["site"].context.id,
        external_id=external_id,
        sender=Sender(
            (IdentityRef("webchat", "visitor-1"), IdentityRef("email", "olga@mail.ru")), name="Ольга"
        ),
        text="Перезвоните мне, пожалуйста" if offline else "Вы здесь?",
        meta={"offline_form": True} if offline else {},
    )


async def reply_account(
    hub: Hub, client: TestClient[Any, Any], conversation_id: int, headers: dict[str, str]
) -> int:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies", json={"text": "Ответили"}, headers=headers
    )
    assert response.status == 201, await response.text()
    message_id = (await response.json())["id"]
    async with hub.sessionmaker() as session:
        row = await session.scalar(select(Outbox).where(Outbox.message_id == message_id))
        assert row is not None
        return row.account_id


async def test_offline_form_message_is_answered_through_the_mail_account(
    served: tuple[Hub, TestClient[Any, Any]],
) -> None:
    hub, client = served
    agent = await make_agent(hub, "anna@okno.example.com")
    result = await hub.ingest.submit(from_visitor(hub, "visitor-1:c1", offline=True))
    assert (
        await reply_account(hub, client, result.conversation_id, agent.headers)
        == hub.accounts["mail"].context.id
    )
    # The visitor comes back and writes in the chat: the answer goes to the widget again.
    await hub.ingest.submit(from_visitor(hub, "visitor-1:c2", offline=False))
    assert (
        await reply_account(hub, client, result.conversation_id, agent.headers)
        == hub.accounts["site"].context.id
    )
