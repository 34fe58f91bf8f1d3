"""The admin's "test connection" of a VK account on the fake VK API: groups.getById names the community
(and, in long-poll mode, the Long Poll server is asked for); a refused token and an unreachable server are
told apart, and the token never shows."""

from __future__ import annotations

from dataclasses import replace

from channels.base import AccountContext, check_connection
from channels.vk import VkConnector
from tests.channels.email.servers import free_port
from tests.channels.vk.conftest import context
from tests.channels.vk.fake_vk_api import FakeVkApi


async def checked(account: AccountContext) -> tuple[bool, str]:
    connector = VkConnector(account)
    try:
        found = await check_connection(connector)
    finally:
        await connector.close()
    return found.ok, found.detail


async def test_the_community_is_named_and_long_poll_is_asked_for(vk_api: FakeVkApi) -> None:
    ok, detail = await checked(context(vk_api))
    assert ok, detail
    assert detail == (
        f"VK answered groups.getById: the community 'Окно' (id {vk_api.group_id});"
        " the Long Poll server was given"
    )
    assert [c.method for c in vk_api.calls] == ["groups.getById", "groups.getLongPollServer"]


async def test_callback_mode_needs_only_the_community(vk_api: FakeVkApi) -> None:
    ok, detail = await checked(context(vk_api, mode="callback", secret="s3cret", confirmation="abc"))
    assert ok and detail.endswith("receiving by the Callback API")
    assert [c.method for c in vk_api.calls] == ["groups.getById"]


async def test_a_refused_token_and_an_unreachable_server_are_told_apart_without_the_token(
    vk_api: FakeVkApi,
) -> None:
    wrong = replace(context(vk_api), secrets={"token": "vk1.a.wrong-token"})
    ok, detail = await checked(wrong)
    assert not ok and "VK refused the community token" in detail and "wrong-token" not in detail
    gone = context(vk_api, api_base=f"http://127.0.0.1:{free_port()}/method")
    ok, detail = await checked(gone)
    assert not ok and detail.startswith("VK unreachable") and vk_api.token not in detail
    no_group = replace(context(vk_api), options={})
    ok, detail = await checked(no_group)
    assert not ok and "group_id" in detail
