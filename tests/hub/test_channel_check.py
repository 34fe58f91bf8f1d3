"""hub.channel_check: a connection test always answers — a peer that never speaks runs into the ceiling, a
misconfigured account is not tried — and never shows one of the account's secrets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from channels.base import ConnectionCheck
from hub.channel_check import masked, run_check
from hub.runtime import Hub


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that takes connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    for writer in held:
        writer.close()
    server.close()
    with contextlib.suppress(Exception):
        await server.wait_closed()


async def test_a_peer_that_never_answers_runs_into_the_ceiling_and_a_misconfigured_account_is_not_tried(
    hub_factory: Callable[..., Awaitable[Hub]], silent_port: int
) -> None:
    ami = {"kind": "sip", "source": "ami", "port": silent_port, "username": "okno", "secret": "s3cret"}
    hub = await hub_factory(
        accounts={
            "pbx": {**ami, "connect_timeout_seconds": 3600},  # only the test's own ceiling can end it
            "off": {**ami, "enabled": False},
        }
    )
    stuck = await run_check(hub.accounts["pbx"], ceiling=1)
    assert stuck == ConnectionCheck(False, "no answer within 1 s")
    off = await run_check(hub.accounts["off"])
    assert off == ConnectionCheck(False, "not tested: disabled in configuration")


def test_secrets_a_peer_echoes_are_masked_longest_first() -> None:
    detail = "login refused for token 123456:ABC-def (prefix 123456)"
    assert masked(detail, ["123456:ABC-def", "123456", "ab"]) == "login refused for token *** (prefix ***)"
