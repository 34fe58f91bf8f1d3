"""Files in the web chat: a visitor sends an image or a document (typed by content, size-limited, rate
limited) that the agent sees; an agent's file reply reaches the widget; a visitor fetches only files of
their own conversations."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.web import create_app
from hub.web.webchat.limits import LIMITS, WebchatLimits
from inbox.models import Attachment, Message
from tests.channels.webchat.conftest import Visitor
from tests.hub.web.conftest import Client, make_agent

ACCOUNTS: dict[str, dict[str, Any]] = {
    "site": {
        "kind": "webchat",
        "hours": "always",
        "require_agent_online": False,
        "max_file_bytes": 4096,
        "files_per_minute": 3,
    }
}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
async def hub(hub_factory: Callable[..., Awaitable[Hub]], tmp_path: Path) -> Hub:
    return await hub_factory(accounts=ACCOUNTS, attachments_dir=str(tmp_path / "files"))


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[Client]:
    app = create_app(hub, manage_hub=False)
    app[LIMITS] = WebchatLimits(clock=lambda: 1000.0)  # a clock that never moves: no refill mid-test
    async with TestClient(TestServer(app)) as client:
        yield client


async def token_of(client: Client) -> str:
    async with client.ws_connect("/webchat/site/ws") as ws:
        hello = await Visitor(ws).hello()
    token: str = hello["token"]
    return token


def form(
    token: str | None, cid: str, data: bytes, name: str, content_type: str = "image/png", text: str = ""
) -> aiohttp.FormData:
    body = aiohttp.FormData()
    if token is not None:
        body.add_field("token", token)
    body.add_field("id", cid)
    if text:
        body.add_field("text", text)
    body.add_field("file", data, filename=name, content_type=content_type)
    return body


async def post_file(client: Client, body: aiohttp.FormData) -> aiohttp.ClientResponse:
    return await client.post("/webchat/site/files", data=body)


async def test_a_visitors_image_is_stored_shown_to_the_agent_and_fetched_back(
    client: Client, hub: Hub
) -> None:
    token = await token_of(client)
    response = await post_file(client, form(token, "c1", PNG, "снимок.png", text="Вот фото"))
    assert response.status == 201, await response.text()
    message = (await response.json())["message"]
    assert message["text"] == "Вот фото"
    [shown] = message["files"]
    assert (shown["name"], shown["type"], shown["size"]) == ("снимок.png", "image/png", len(PNG))

    again = await post_file(client, form(token, "c1", PNG, "снимок.png", text="Вот фото"))
    assert again.status == 200  # the same widget id: a resend, not a second message

    agent = await make_agent(hub, "anna@okno.example.com", role="admin")
    async with hub.sessionmaker() as session:
        conversation_id = await session.scalar(
            select(Message.conversation_id).where(Message.id == message["id"])
        )
    detail = await (
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=agent.headers)
    ).json()
    assert [(a["filename"], a["content_type"]) for a in detail["messages"][0]["attachments"]] == [
        ("снимок.png", "image/png")
    ]

    fetched = await client.get(f"/webchat/site/files/{shown['id']}", params={"token": token})
    assert fetched.status == 200
    assert await fetched.read() == PNG
    assert fetched.headers["Content-Type"] == "image/png"
    assert fetched.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_file_is_typed_by_its_bytes_not_its_name(client: Client, hub: Hub) -> None:
    token = await token_of(client)
    script = await post_file(
        client, form(token, "c1", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "cat.jpg", "image/jpeg")
    )
    assert script.status == 415
    assert (await script.json())["error"]["field"] == "file"
    renamed = await post_file(client, form(token, "c2", PDF, "photo.jpg", "image/jpeg"))
    assert renamed.status == 201, await renamed.text()
    assert (await renamed.json())["message"]["files"][0]["type"] == "application/pdf"
    async with hub.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Attachment)) == 1


async def test_a_file_over_the_limit_or_without_a_token_is_refused_with_the_reason(client: Client) -> None:
    token = await token_of(client)
    large = await post_file(client, form(token, "c1", PDF + b"0" * 5000, "big.pdf", "application/pdf"))
    assert large.status == 413
    assert (await large.json())["error"]["field"] == "file"
    anonymous = await post_file(client, form(None, "c2", PNG, "a.png"))
    assert anonymous.status == 401


async def test_files_are_rate_limited_per_visitor(client: Client) -> None:
    token = await token_of(client)
    for n in range(3):
        assert (await post_file(client, form(token, f"c{n}", PNG, "a.png"))).status == 201
    limited = await post_file(client, form(token, "c9", PNG, "a.png"))
    assert limited.status == 429 and "Retry-After" in limited.headers


async def test_a_visitor_fetches_only_files_of_their_own_conversations(client: Client) -> None:
    owner, stranger = await token_of(client), await token_of(client)
    posted = await (await post_file(client, form(owner, "c1", PNG, "a.png"))).json()
    file_id = posted["message"]["files"][0]["id"]
    assert (await client.get(f"/webchat/site/files/{file_id}", params={"token": stranger})).status == 404
    assert (await client.get(f"/webchat/site/files/{file_id}")).status == 401
    assert (await client.get(f"/webchat/site/files/{file_id + 1000}", params={"token": owner})).status == 404


async def test_an_agents_file_reply_reaches_the_widget_as_a_download(client: Client, hub: Hub) -> None:
    agent = await make_agent(hub, "anna@okno.example.com", role="admin")
    async with client.ws_connect("/webchat/site/ws") as ws:
        visitor = Visitor(ws)
        token = (await visitor.hello())["token"]
        ack = await visitor.say("c1", "Пришлите счёт")
        async with hub.sessionmaker() as session:
            conversation_id = await session.scalar(
                select(Message.conversation_id).where(Message.id == ack["message"]["id"])
            )
        reply = await client.post(
            f"/api/v1/conversations/{conversation_id}/replies",
            json={
                "text": "Счёт во вложении",
                "attachments": [
                    {
                        "filename": "счёт.pdf",
                        "content_type": "application/pdf",
                        "content_base64": base64.b64encode(PDF).decode(),
                    }
                ],
            },
            headers=agent.headers,
        )
        assert reply.status == 201, await reply.text()
        pushed = await visitor.until("message", message__from="agent")
    [shown] = pushed["message"]["files"]
    assert (shown["name"], shown["type"]) == ("счёт.pdf", "application/pdf")
    fetched = await client.get(f"/webchat/site/files/{shown['id']}", params={"token": token})
    assert fetched.status == 200 and await fetched.read() == PDF
    assert fetched.headers["Content-Type"] == "application/octet-stream"
    assert fetched.headers["Content-Disposition"].startswith("attachment;")
