"""/healthz, /readyz and /metrics on the real app: readiness turns 503 naming the reason (database, Redis,
an account in error), the metrics text parses with prometheus-client's own parser and counts what happened,
and only a loopback caller no proxy forwarded, or one with the metrics token, reads them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from channels.api.parse import parse
from hub.runtime import Hub
from hub.settings import load
from hub.web import create_app
from inbox.ingest import IngestError
from inbox.items import Refused
from inbox.models import Outbox
from tests.hub.web.conftest import ACCOUNTS, Client, error_of, hand_in, make_agent
from tests.waiting import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CLOSED_PORT_URL = "http://127.0.0.1:1/replies"  # nothing listens on port 1: every send fails, retryably


def samples(text: str) -> Samples:
    """Every sample of a metrics text by (name, labels), parsed by prometheus-client's own parser."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Client, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return samples(await response.text())


@asynccontextmanager
async def served(hub: Hub) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
        yield client


async def test_healthz_says_alive(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "alive"}
    assert response.headers["X-Request-Id"]


async def test_readyz_is_ready_with_the_database_and_running_accounts(client: Client) -> None:
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "ready" and body["reasons"] == []
    assert body["checks"]["database"] == {"ok": True}
    assert {name: a["state"] for name, a in body["checks"]["accounts"].items()} == {
        "shop": "running",
        "depot": "running",
    }


async def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached(database_url: str) -> None:
    # A hub whose database server is down (nothing listens on port 1): the process is alive, not ready.
    hub = Hub(load(database_url="postgresql+asyncpg://okno@127.0.0.1:1/okno"))
    try:
        async with served(hub) as client:
            assert (await client.get("/healthz")).status == 200
            response = await client.get("/readyz")
            body = await response.json()
            assert response.status == 503, body
            assert body["status"] == "not_ready"
            assert body["checks"]["database"]["ok"] is False
            assert [r.split(":")[0] for r in body["reasons"]] == ["database"]
            assert "Connect" in body["reasons"][0] or "refused" in body["reasons"][0]  # loopback: details
    finally:
        await hub.engine.dispose()


async def test_readyz_is_503_naming_an_account_in_error(
    hub_factory: Callable[..., Awaitable[Hub]], monkeypatch: Any
) -> None:
    monkeypatch.delenv("OKNO_TEST_UNSET_TOKEN", raising=False)
    accounts = {
        **ACCOUNTS,
        "broken": {"kind": "api", "token_env": "OKNO_TEST_UNSET_TOKEN"},  # its secret is gone
        "off": {"kind": "api", "token_env": "OKNO_TEST_UNSET_TOKEN", "enabled": False},  # off on purpose
    }
    hub = await hub_factory(accounts=accounts)
    async with served(hub) as client:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503, body
        unset = "environment variable OKNO_TEST_UNSET_TOKEN (for token) is not set"
        assert body["reasons"] == [f"account broken: misconfigured ({unset})"]
        assert "off" not in body["checks"]["accounts"]
        assert body["checks"]["database"] == {"ok": True}
        # A caller who may not read the metrics (forwarded by a proxy) hears what, not the details.
        proxied = await client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.7"})
        assert proxied.status == 503
        assert (await proxied.json())["reasons"] == ["account broken: misconfigured"]


async def test_readyz_is_503_naming_redis_when_the_bus_is_down(
    hub_factory: Callable[..., Awaitable[Hub]], database_url: str
) -> None:
    # The hub itself started without the bus; only its readiness is asked about a Redis that is down.
    hub = await hub_factory()
    hub.settings = load(database_url=database_url, bus_url="redis://127.0.0.1:1/0")
    async with served(hub) as client:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503, body
        assert body["checks"]["redis"]["ok"] is False
        assert [r.split(":")[0] for r in body["reasons"]] == ["redis"]


async def test_readyz_pings_a_redis_that_answers(
    hub_factory: Callable[..., Awaitable[Hub]], redis_url: str
) -> None:
    hub = await hub_factory(bus_url=redis_url)
    async with served(hub) as client:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 200, body
        assert body["checks"]["redis"] == {"ok": True}


async def test_metrics_count_ingest_outbox_connectors_sockets_and_quarantine(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> None:
    accounts = {**ACCOUNTS, "shop": {**ACCOUNTS["shop"], "callback_url": CLOSED_PORT_URL}}
    # A failed send waits an hour before its retry: the row stays in the outbox while the test looks.
    hub = await hub_factory(accounts=accounts, outbox={"base_delay_seconds": 3600, "max_delay_seconds": 3600})
    async with served(hub) as client:
        before = await scrape(client)
        stored = value(before, "okno_ingest_items_total", kind="message", outcome="stored")
        duplicate = value(before, "okno_ingest_items_total", kind="message", outcome="duplicate")
        timed = value(before, "okno_ingest_seconds_count", kind="message")
        failed_sends = value(before, "okno_outbox_sends_total", result="failed")
        errors = value(before, "okno_ingest_items_total", kind="message", outcome="error")
        quarantined = value(before, "okno_ingest_items_total", kind="refused", outcome="quarantined")

        first = await hand_in(client, "m-1")
        await hand_in(client, "m-1")  # the same message again
        # An item the inbox refuses (its account is gone), and one a connector could not read, which goes
        # to the quarantine.
        lost = parse(
            {"external_id": "m-2", "sender": {"email": "x@example.com"}, "text": "hi"},
            account_id=999_999,
            account_name="gone",
            region="RU",
        )
        with pytest.raises(IngestError):
            await hub.ingest.submit(lost)
        await hub.sink(Refused(hub.accounts["shop"].context.id, b"\xff not JSON", "not JSON", "test 1"))

        agent = await make_agent(hub, "vera@okno.example.com", teams=("Sales",))
        reply = await client.post(
            f"/api/v1/conversations/{first['conversation_id']}/replies",
            json={"text": "Заказ в пути"},
            headers=agent.headers,
        )
        assert reply.status == 201, await reply.text()

        async def send_failed() -> Samples | None:
            found = await scrape(client)
            failed = value(found, "okno_outbox_sends_total", result="failed") > failed_sends
            back = value(found, "okno_outbox_depth", status="pending") == 1  # its retry due in an hour
            return found if failed and back else None

        after = await eventually(send_failed, "the reply's send failed and its row waits for a retry")

        assert value(after, "okno_ingest_items_total", kind="message", outcome="stored") == stored + 1
        assert value(after, "okno_ingest_items_total", kind="message", outcome="duplicate") == duplicate + 1
        assert value(after, "okno_ingest_seconds_count", kind="message") >= timed + 2
        async with hub.sessionmaker() as session:
            waiting = await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.status == "pending")
            )
        assert value(after, "okno_outbox_depth", status="pending") == waiting == 1
        assert value(after, "okno_outbox_oldest_age_seconds") >= 0
        assert value(after, "okno_connector_state", account="shop", kind="api", state="running") == 1
        assert value(after, "okno_connector_state", account="shop", kind="api", state="auth_failed") == 0
        assert ("okno_sockets", frozenset({("side", "agent")})) in after
        assert ("okno_sockets", frozenset({("side", "visitor")})) in after
        assert value(after, "process_resident_memory_bytes") > 0
        assert value(after, "okno_ingest_items_total", kind="message", outcome="error") == errors + 1
        assert (
            value(after, "okno_ingest_items_total", kind="refused", outcome="quarantined") == quarantined + 1
        )
        assert value(after, "okno_quarantine_items", account="shop") == 1
        assert value(after, "okno_quarantine_items", account="depot") == 0

        # An agent socket open on this process is counted.
        async with client.ws_connect("/api/v1/ws", headers=agent.headers) as ws:
            with_socket = await scrape(client)
            assert (
                value(with_socket, "okno_sockets", side="agent")
                == value(after, "okno_sockets", side="agent") + 1
            )
            await ws.close()


async def test_metrics_are_refused_to_a_proxied_caller_without_the_token(client: Client) -> None:
    response = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    error = await error_of(response, 403)
    assert "[metrics] token" in error["message"]


async def test_metrics_token_lets_any_caller_read_and_a_wrong_one_is_401(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> None:
    hub = await hub_factory(metrics={"token": "m3trics-s3cret", "allow_loopback": False})
    async with served(hub) as client:
        await error_of(await client.get("/metrics"), 401)  # loopback alone is not enough here
        await error_of(await client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
        found = await scrape(
            client, Authorization="Bearer m3trics-s3cret", **{"X-Forwarded-For": "203.0.113.7"}
        )
        assert ("okno_outbox_oldest_age_seconds", frozenset()) in found


async def test_readyz_and_metrics_are_rate_limited_per_address(
    hub_factory: Callable[..., Awaitable[Hub]],
) -> None:
    hub = await hub_factory(metrics={"requests_per_minute": 2})
    async with served(hub) as client:
        assert (await client.get("/readyz")).status == 200
        assert (await client.get("/metrics")).status == 200
        refused = await client.get("/metrics")
        error = await error_of(refused, 429)
        assert error["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await client.get("/healthz")).status == 200  # liveness is never limited


async def test_two_processes_on_redis_share_one_rate_limit(
    hub_factory: Callable[..., Awaitable[Hub]], redis_url: str
) -> None:
    shared = {"bus_url": redis_url, "rate_limit_prefix": f"okno-test-{uuid.uuid4().hex[:12]}:rl"}
    a = await hub_factory(metrics={"requests_per_minute": 2}, **shared)
    b = await hub_factory(metrics={"requests_per_minute": 2}, **shared)
    async with served(a) as on_a, served(b) as on_b:
        assert (await on_a.get("/metrics")).status == 200
        assert (await on_b.get("/metrics")).status == 200
        refused = await on_a.get("/metrics")  # the third from this address, whichever process answers
        assert (await error_of(refused, 429))["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 30


async def test_readyz_does_not_queue_behind_a_writer(client: Client, hub: Hub) -> None:
    # A transaction holding SQLite's write lock (ours open with BEGIN IMMEDIATE) for as long as the probe
    # runs: the probe reads outside any transaction and is answered, ready.
    async with hub.sessionmaker() as session:
        await session.execute(select(func.count()).select_from(Outbox))
        response = await client.get("/readyz")
        assert response.status == 200, await response.text()
