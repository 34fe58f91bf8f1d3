"""The inbox composer offers only what the conversation's channel carries: no file picker on a channel
without attachments, agent typing only where the client can see it."""

from __future__ import annotations

import re

from hub.runtime import Hub
from tests.hub.web.api.test_capabilities import conversation_on, hub
from tests.hub.web.conftest import Client, make_agent
from tests.hub.web.ui.test_pages import log_in

__all__ = ["hub"]  # the capabilities tests' hub (their accounts) serves the web conftest's client here


def head_flags(html: str) -> dict[str, str]:
    head = re.search(r'<div class="conv-head"[^>]*>', html)
    assert head is not None
    return dict(re.findall(r'data-(attachments|typing|max-file)="([^"]*)"', head.group(0)))


async def test_the_file_picker_shows_only_on_channels_that_carry_files(client: Client, hub: Hub) -> None:
    admin = await make_agent(hub, "admin@okno.example.com", role="admin")
    shop = await conversation_on(hub, "shop", ("email", "client@example.com"))
    sms = await conversation_on(hub, "sms", ("phone", "+79161234567"))
    site = await conversation_on(hub, "site", ("webchat", "visitor-1"))
    await log_in(client, admin.email)

    fragment = await (await client.get(f"/inbox/parts/conversation/{shop}")).text()
    assert head_flags(fragment) == {"attachments": "1", "max-file": "0", "typing": "0"}
    assert (
        head_flags(await (await client.get(f"/inbox/parts/conversation/{sms}")).text())["attachments"] == "0"
    )
    assert head_flags(await (await client.get(f"/inbox/parts/conversation/{site}")).text())["typing"] == "1"

    page = await (await client.get(f"/inbox/{sms}")).text()
    picker = re.search(r'<label class="attach" id="attach-wrap"[^>]*>', page)
    assert picker is not None and "hidden" in picker.group(0)
    page = await (await client.get(f"/inbox/{shop}")).text()
    picker = re.search(r'<label class="attach" id="attach-wrap"[^>]*>', page)
    assert picker is not None and "hidden" not in picker.group(0)
