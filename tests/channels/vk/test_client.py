"""Our VK API client against the fake VK API: calls, errors shown clearly, rate limits, idempotent sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from channels.vk.client import VkApiError, VkClient, delivery_error, random_id_for
from tests.channels.vk.fake_vk_api import FLOOD, NO_PERMISSION, TOO_MANY, FakeVkApi


@pytest.fixture
async def client(vk_api: FakeVkApi) -> AsyncIterator[VkClient]:
    async with aiohttp.ClientSession() as session:
        yield VkClient(session, vk_api.token, api_base=f"{vk_api.url}/method", rate_limit_pause=0.01)


def test_random_id_is_a_stable_31_bit_number_per_reply_part() -> None:
    first = random_id_for("okno-10-abc")
    assert first == random_id_for("okno-10-abc") and 0 < first < 2**31
    assert random_id_for("okno-10-abc", 1) != first
    assert random_id_for("okno-11-def") != first


async def test_send_returns_the_message_id_and_a_repeated_random_id_is_not_sent_twice(
    vk_api: FakeVkApi, client: VkClient
) -> None:
    first = await client.send_message(321, "Здравствуйте!", 77)
    again = await client.send_message(321, "Здравствуйте!", 77)
    assert first == again == 830
    assert vk_api.sent_texts == [(321, "Здравствуйте!", 77)]
    (call, _) = vk_api.method_calls("messages.send")
    assert call.params == {"peer_id": "321", "message": "Здравствуйте!", "random_id": "77"}


async def test_too_many_requests_is_retried_after_a_pause(vk_api: FakeVkApi, client: VkClient) -> None:
    vk_api.script("messages.send", TOO_MANY, TOO_MANY)
    assert await client.send_message(321, "Привет", 1) == 830
    assert len(vk_api.method_calls("messages.send")) == 3


async def test_persistent_rate_limit_becomes_a_retry_later(vk_api: FakeVkApi, client: VkClient) -> None:
    vk_api.script("messages.send", *[TOO_MANY] * 4)
    with pytest.raises(VkApiError) as err:
        await client.send_message(321, "Привет", 1)
    delivery = delivery_error(err.value)
    assert delivery.retry_after is not None and not delivery.permanent
    assert "VK error 6: Too many requests per second" in delivery.reason


@pytest.mark.parametrize(
    ("error", "permanent", "blocks", "shown"),
    [
        (NO_PERMISSION, True, True, "VK error 901: Can't send messages for users without permission"),
        ((902, "Can't send messages to this user due to their privacy settings"), True, True, "privacy"),
        ((914, "Message is too long"), True, False, "VK error 914"),
        (FLOOD, False, False, "flood control"),
        ((10, "Internal server error"), False, False, "VK error 10"),
    ],
)
async def test_vk_errors_are_shown_with_code_and_text_and_classified(
    vk_api: FakeVkApi, client: VkClient, error: tuple[int, str], permanent: bool, blocks: bool, shown: str
) -> None:
    vk_api.script("messages.send", error)
    with pytest.raises(VkApiError) as err:
        await client.send_message(321, "Привет", 1)
    delivery = delivery_error(err.value)
    assert (delivery.permanent, delivery.blocks_conversation) == (permanent, blocks)
    assert shown in delivery.reason


async def test_users_get_gives_names_by_id(client: VkClient) -> None:
    assert await client.users_get([321, 654, 999]) == {321: "Мария Иванова", 654: "Пётр Сидоров"}


async def test_a_wrong_token_is_error_5(vk_api: FakeVkApi) -> None:
    async with aiohttp.ClientSession() as session:
        wrong = VkClient(session, "nope", api_base=f"{vk_api.url}/method")
        with pytest.raises(VkApiError) as err:
            await wrong.get_long_poll_server(vk_api.group_id)
    assert err.value.code == 5 and "authorization failed" in err.value.message
