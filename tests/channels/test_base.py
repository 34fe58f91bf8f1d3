"""The channel contract: every connector has a public readiness signal, unset until it receives."""

from __future__ import annotations

import asyncio

import pytest

from channels.base import KNOWN_KINDS, AccountContext, connector_class, single_holder
from tests.waiting import event_set


@pytest.mark.parametrize("kind", sorted(KNOWN_KINDS))
async def test_every_connector_says_when_it_receives_and_is_not_ready_before_it_runs(kind: str) -> None:
    connector = connector_class(kind)(AccountContext(id=1, name="acc", kind=kind))
    try:
        assert isinstance(connector.ready, asyncio.Event)
        assert not connector.ready.is_set()
    finally:
        await connector.close()


@pytest.mark.parametrize("kind", ["api", "webchat"])
async def test_push_only_connectors_are_ready_as_soon_as_they_run_and_not_after(kind: str) -> None:
    connector = connector_class(kind)(AccountContext(id=1, name="acc", kind=kind))

    async def no_sink(item: object) -> object:
        raise AssertionError("nothing is received here")

    running = asyncio.create_task(connector.run(no_sink))
    try:
        await event_set(connector.ready, f"the {kind} connector ready")
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await connector.close()
    assert not connector.ready.is_set()


async def test_a_connector_without_a_connection_check_has_nothing_to_test() -> None:
    from channels.base import NOTHING_TO_TEST, ConnectionCheck, check_connection

    class Bare:
        pass

    class Checks:
        async def check_connection(self) -> ConnectionCheck:
            return ConnectionCheck(False, "the peer said no")

    assert await check_connection(Bare()) == ConnectionCheck(True, NOTHING_TO_TEST)
    assert await check_connection(Checks()) == ConnectionCheck(False, "the peer said no")


PULLING = [
    ("email", {}, {}),
    ("telegram", {}, {"token": "123456:TEST-token"}),
    ("vk", {"group_id": 1}, {"token": "vk-token"}),
    ("sip", {"source": "ami", "username": "okno"}, {"secret": "s"}),
    ("sip", {"source": "cdr_csv", "path": "/var/log/asterisk/cdr.csv"}, {}),
    ("sip", {"source": "kamailio_acc", "path": "/var/lib/kamailio/acc"}, {}),
    ("telegram", {}, {}),  # a wrong configuration counts as pulling: its error is shown where it runs
]
PUSHED = [
    ("api", {}, {}),
    ("webchat", {}, {}),
    ("telegram", {"mode": "webhook"}, {"token": "123456:TEST-token", "secret": "hook-secret"}),
    ("vk", {"group_id": 1, "mode": "callback", "confirmation": "ok1"}, {"token": "t", "secret": "s"}),
    ("sip", {"source": "cti"}, {"token": "t"}),
    ("sip", {"source": "json_cdr"}, {"token": "t"}),
]


@pytest.mark.parametrize(("kind", "options", "secrets"), PULLING + PUSHED)
async def test_pulling_connectors_need_one_holder_and_push_only_ones_run_in_every_process(
    kind: str, options: dict[str, object], secrets: dict[str, str]
) -> None:
    account = AccountContext(id=1, name="acc", kind=kind, options=options, secrets=secrets)
    connector = connector_class(kind)(account)
    try:
        assert single_holder(connector) is ((kind, options, secrets) in PULLING)
    finally:
        await connector.close()
