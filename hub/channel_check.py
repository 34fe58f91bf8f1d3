"""The admin's "test connection" of a channel account (the API's ``POST /api/v1/channels/{account}/test`` and
the button on /admin/channels).

A fresh connector is built from the account's configuration of now and asked for its own connectivity check
(:func:`channels.base.check_connection`: an IMAP login, getMe, an AMI login …), under a ceiling, outside any
database transaction; the running connector is left alone (its receive loop and its state are not
touched). The answer is worded by what happened; any of the account's secrets that a peer's message might
echo is masked before it is shown or stored. Each test is written to the audit log (``channel.test``) in
a short transaction of its own, after the network work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.base import ChannelNotAvailable, ConnectionCheck, check_connection, connector_class
from hub.runtime import ConfiguredAccount, Hub
from inbox import audit

log = logging.getLogger(__name__)

CEILING_SECONDS = 30.0
AUDIT_ACTION = "channel.test"
MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary words


def masked(text: str, secrets: list[str]) -> str:
    """`text` with every secret (longest first, so one inside another is masked whole) replaced."""
    for secret in sorted((s for s in secrets if len(s) >= MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


async def run_check(configured: ConfiguredAccount, ceiling: float = CEILING_SECONDS) -> ConnectionCheck:
    """The account's connection check, never raising: a configuration problem, a kind without a connector,
    a check that fails or takes longer than `ceiling` seconds are answers too."""
    context = configured.context
    if configured.problem:
        return ConnectionCheck(False, f"not tested: {configured.problem}")
    try:
        factory = connector_class(context.kind)
    except ChannelNotAvailable as exc:
        return ConnectionCheck(False, f"not tested: {exc}")
    found: ConnectionCheck
    connector = None
    try:
        connector = factory(context)
        async with asyncio.timeout(ceiling):
            found = await check_connection(connector)
    except TimeoutError:
        found = ConnectionCheck(False, f"no answer within {ceiling:.0f} s")
    except Exception as exc:  # a check must answer, whatever a connector raises
        log.warning("account %s: the connection test failed", context.name, exc_info=True)
        found = ConnectionCheck(False, f"{exc.__class__.__name__}: {exc}")
    finally:
        if connector is not None:
            with contextlib.suppress(Exception):
                await connector.close()
    detail = masked(" ".join(found.detail.split())[:1000], list(context.secrets.values()))
    return ConnectionCheck(found.ok, detail)


async def check_account(
    hub: Hub, configured: ConfiguredAccount, *, actor_agent_id: int | None, ceiling: float = CEILING_SECONDS
) -> ConnectionCheck:
    """Run the account's connection check, then write it to the audit log; the check's answer."""
    found = await run_check(configured, ceiling)
    context = configured.context
    log.info("account %s: connection test %s: %s", context.name, "ok" if found.ok else "failed", found.detail)
    async with hub.sessionmaker() as session:
        audit.record(
            session,
            AUDIT_ACTION,
            entity="channel",
            entity_id=context.id,
            actor_agent_id=actor_agent_id,
            detail={"account": context.name, "kind": context.kind, "ok": found.ok, "detail": found.detail},
        )
        await session.commit()
    return found
