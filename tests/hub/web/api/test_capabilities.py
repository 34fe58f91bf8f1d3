"""Declared capabilities: a reply its channel cannot carry is refused when the agent sends it (422 naming
what the channel lacks), never queued; the channel list and the conversation show what each can carry."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select

from channels.base import AccountContext, Capabilities, Sink, register
from hub.runtime import Hub
from inbox.ingest import IngestResult
from inbox.items import Delivery, IdentityKind, OutboundMessage
from inbox.models import Message, Outbox
from tests.hub.web.conftest import Client, Person, error_of, make_agent
from tests.inbox.helpers import message


@register("test-textonly")
class TextOnlyConnector:
    """A channel that carries text and nothing else (as VK and web chat did before they carried files)."""

    kind: ClassVar[str] = "test-textonly"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, account: AccountContext) -> None:
        self.ready = asyncio.Event()

    async def run(self, sink: Sink) -> None:
        self.ready.set()
        await asyncio.Event().wait()

    async def send(self, out: OutboundMessage) -> Delivery:
        return Delivery(external_id=f"t-{out.message_id}")

    async def close(self) -> None:
        return None


# Disabled accounts: nothing connects to VK or a PBX, but conversations on them are real and replies go
# through the same checks.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "shop": {"kind": "api", "token": "t0ken"},
    "community": {"kind": "vk", "token": "vk-token", "group_id": 7, "enabled": False},
    "site": {"kind": "webchat", "title": "Поддержка"},
    "pbx": {"kind": "sip", "enabled": False},
    "sms": {"kind": "test-textonly"},
}
PDF = base64.b64encode(b"%PDF-1.4 invoice").decode()


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path) -> Hub:
    """This module's accounts; the web conftest's `client` and `admin` run on it."""
    return await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "attachments"))


async def conversation_on(hub: Hub, account: str, identity: tuple[IdentityKind, str]) -> int:
    outcome = await hub.sink(message(hub.accounts[account].context.id, f"{account}-1", identity))
    assert isinstance(outcome, IngestResult), outcome
    return outcome.conversation_id


async def count(hub: Hub, model: type[Message] | type[Outbox]) -> int:
    async with hub.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def with_pdf(text: str = "Счёт во вложении") -> dict[str, Any]:
    return {
        "text": text,
        "attachments": [{"filename": "счёт.pdf", "content_type": "application/pdf", "content_base64": PDF}],
    }


async def test_a_reply_with_files_on_a_channel_without_attachments_is_refused_not_shown_sent(
    client: Client, hub: Hub, admin: Person
) -> None:
    conv = await conversation_on(hub, "sms", ("phone", "+79161234567"))
    before = await count(hub, Message)
    response = await client.post(
        f"/api/v1/conversations/{conv}/replies", json=with_pdf(), headers=admin.headers
    )
    error = await error_of(response, 422)
    assert (error["field"], error["message"]) == (
        "attachments",
        "the test-textonly channel cannot carry attachments",
    )
    assert await count(hub, Message) == before  # nothing stored, nothing queued
    assert await count(hub, Outbox) == 0
    plain = await client.post(
        f"/api/v1/conversations/{conv}/replies", json={"text": "Здравствуйте"}, headers=admin.headers
    )
    assert plain.status == 201, await plain.text()


@pytest.mark.parametrize(
    ("account", "identity"), [("shop", ("email", "client@example.com")), ("community", ("vk", "1001"))]
)
async def test_a_channel_with_attachments_takes_them(
    client: Client, hub: Hub, admin: Person, account: str, identity: tuple[IdentityKind, str]
) -> None:
    conv = await conversation_on(hub, account, identity)
    response = await client.post(
        f"/api/v1/conversations/{conv}/replies", json=with_pdf(), headers=admin.headers
    )
    assert response.status == 201, await response.text()
    assert [a["filename"] for a in (await response.json())["attachments"]] == ["счёт.pdf"]


async def test_a_phone_channel_takes_no_reply_at_all(client: Client, hub: Hub, admin: Person) -> None:
    conv = await conversation_on(hub, "pbx", ("phone", "+74951234567"))
    response = await client.post(
        f"/api/v1/conversations/{conv}/replies", json={"text": "Перезвоним"}, headers=admin.headers
    )
    error = await error_of(response, 422)
    assert (error["field"], error["message"]) == ("text", "the sip channel cannot carry replies")
    note = await client.post(
        f"/api/v1/conversations/{conv}/notes",
        json={"text": "клиент просил перезвонить"},
        headers=admin.headers,
    )
    assert note.status == 201  # a note goes nowhere: any channel takes it


async def test_channel_list_and_conversation_show_what_a_reply_can_carry(
    client: Client, hub: Hub, admin: Person
) -> None:
    listed = await (await client.get("/api/v1/channels", headers=admin.headers)).json()
    caps = {item["name"]: item["capabilities"] for item in listed["items"]}
    assert caps["shop"]["attachments"] is True
    assert caps["community"]["attachments"] is True
    assert caps["sms"]["attachments"] is False
    assert caps["site"]["typing"] is True
    assert caps["pbx"]["text"] is False
    assert set(caps["shop"]) == {
        "text",
        "attachments",
        "max_attachment_bytes",
        "attachment_kinds",
        "edits",
        "typing",
        "buttons",
    }
    conv = await conversation_on(hub, "sms", ("phone", "+79161234567"))
    detail = await (await client.get(f"/api/v1/conversations/{conv}", headers=admin.headers)).json()
    assert detail["capabilities"] == caps["sms"]


async def test_an_agent_downloads_a_file_of_a_conversation_they_see_and_nothing_else(
    client: Client, hub: Hub, admin: Person
) -> None:
    conv = await conversation_on(hub, "shop", ("email", "client@example.com"))
    reply = await client.post(f"/api/v1/conversations/{conv}/replies", json=with_pdf(), headers=admin.headers)
    [attachment] = (await reply.json())["attachments"]
    fetched = await client.get(f"/api/v1/attachments/{attachment['id']}", headers=admin.headers)
    assert fetched.status == 200
    assert await fetched.read() == base64.b64decode(PDF)
    assert fetched.headers["Content-Type"] == "application/octet-stream"  # downloaded, never shown as a page
    assert fetched.headers["X-Content-Type-Options"] == "nosniff"
    outsider = await make_agent(hub, "oleg@okno.example.com", teams=("Elsewhere",))
    url = f"/api/v1/attachments/{attachment['id']}"
    assert (await client.get(url, headers=outsider.headers)).status == 403
    assert (await client.get(f"{url}99", headers=admin.headers)).status == 404
    assert (await client.get(url)).status == 401


async def test_buttons_go_only_where_the_channel_has_them(client: Client, hub: Hub, admin: Person) -> None:
    site = await conversation_on(hub, "site", ("webchat", "visitor-1"))
    body = {"text": "Удобно завтра?", "buttons": ["Да", "Нет"]}
    refused = await client.post(f"/api/v1/conversations/{site}/replies", json=body, headers=admin.headers)
    error = await error_of(refused, 422)
    assert (error["field"], error["message"]) == ("buttons", "the webchat channel cannot carry buttons")
    vk = await conversation_on(hub, "community", ("vk", "1001"))
    taken = await client.post(f"/api/v1/conversations/{vk}/replies", json=body, headers=admin.headers)
    assert taken.status == 201, await taken.text()
    async with hub.sessionmaker() as session:
        stored = await session.get_one(Message, (await taken.json())["id"])
        assert stored.meta["buttons"] == ["Да", "Нет"]
    too_long = {"text": "?", "buttons": ["x" * 41]}
    bad = await client.post(f"/api/v1/conversations/{vk}/replies", json=too_long, headers=admin.headers)
    assert (await error_of(bad, 400))["field"] == "buttons.0"
