"""/admin/channels: every channel account for admins — its state, last error, last item received,
quarantine count and a "test connection" button — and each account's quarantine (reasons, raw downloads,
a retry button), RU/EN.

Reads happen in one short transaction and are rendered after it; the retry runs through
hub.quarantine (today's parsers, audited) and the connection test through hub.channel_check (the
connector's own check under a ceiling, audited), both outside any transaction of this page. The test's
form (CSRF-checked) answers with the page itself, the result shown in the account's row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from channels.base import ConnectionCheck
from hub import quarantine as retrying
from hub.channel_check import check_account
from hub.web.api.channels import channel_rows
from hub.web.auth import Principal
from hub.web.context import db, hub_of
from hub.web.inputs import path_id
from hub.web.ui import i18n
from hub.web.ui.inbox_view import Clock, agent_clock
from hub.web.ui.pages import language, page_principal, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox import quarantine
from inbox.models import ChannelAccount

routes = web.RouteTableDef()

PAGE_SIZE = 200


def _when(clock: Clock, value: datetime | None) -> str:
    return f"{clock.day(value)} {clock.time(value)}" if value else ""


def _admin_gate(
    request: web.Request, principal: Principal | None
) -> tuple[str, i18n.Texts, web.Response | None]:
    """The page's language and strings, and the answer instead of the page for one who may not see it."""
    if principal is None:
        return (
            i18n.DEFAULT,
            i18n.Texts(i18n.DEFAULT),
            redirect("/login?next=" + quote(request.path_qs, safe="/"), 302),
        )
    lang = language(request, principal.agent)
    t = i18n.Texts(lang)
    if principal.agent.role != "admin":
        return lang, t, web.Response(status=403, text=t.gettext("The channels page is for admins only."))
    return lang, t, None


@routes.get("/admin/channels")
async def channels_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await page_principal(request, session)
        lang, t, refusal = _admin_gate(request, principal)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
    return await _channels(request, principal, lang, t)


@routes.post(r"/admin/channels/{id:\d+}/test")
async def test_connection(request: web.Request) -> web.Response:
    """The "test connection" button: the account's own check, then the page with the result in its row."""
    hub = hub_of(request)
    account_id = path_id(request)
    form = await request.post()
    async with db(request) as session:
        principal = await page_principal(request, session, csrf=str(form.get("csrf_token", "")))
        lang, t, refusal = _admin_gate(request, principal)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
    configured = hub.account_by_id(account_id)
    if configured is None:
        return web.Response(status=404, text=t.gettext("No such channel."))
    found = await check_account(hub, configured, actor_agent_id=principal.agent.id)
    return await _channels(request, principal, lang, t, {account_id: found})


async def _channels(
    request: web.Request,
    principal: Principal,
    lang: str,
    t: i18n.Texts,
    tested: dict[int, ConnectionCheck] | None = None,
) -> web.Response:
    """The page, for an admin already let in; `tested`: connection tests to show in their rows."""
    hub = hub_of(request)
    async with db(request) as session:
        accounts = await channel_rows(hub, session)
    clock = agent_clock(principal.agent, hub.settings.business_hours.timezone, lang)
    rows: list[dict[str, Any]] = []
    for account in accounts:
        row = account.model_dump(mode="json")
        rows.append(row)
        row["last_received"] = _when(clock, account.last_received_at)
        row["state_label"] = t.label(i18n.CHANNEL_STATES, row["state"])
        row["kind_label"] = t.channel(row["kind"])
        row["error"] = row["problem"] or row["detail"] or ""
        found = (tested or {}).get(account.id)
        row["test"] = {"ok": found.ok, "detail": found.detail} if found is not None else None
    context = {
        "lang": lang,
        "rows": rows,
        "csrf_token": principal.csrf_token or "",
        **topbar(request, principal, "channels", path="/admin/channels"),
    }
    response = render(request, "web/channels.html", context)
    remember_language(request, response)
    return response


@routes.get(r"/admin/channels/{id:\d+}/quarantine")
async def quarantine_page(request: web.Request) -> web.Response:
    hub = hub_of(request)
    account_id = path_id(request)
    async with db(request) as session:
        principal = await page_principal(request, session)
        lang, t, refusal = _admin_gate(request, principal)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
        account = await session.get(ChannelAccount, account_id)
        if account is None:
            return web.Response(status=404, text=t.gettext("No such channel."))
        items = await quarantine.list_items(session, account_id=account_id, limit=PAGE_SIZE)
    clock = agent_clock(principal.agent, hub.settings.business_hours.timezone, lang)
    rows: list[dict[str, Any]] = [
        {
            "id": item.id,
            "when": _when(clock, item.received_at),
            "iso": item.received_at.isoformat(),
            "position": item.position,
            "reason": item.reason,
            "size": item.size,
            "attempts": item.attempts,
        }
        for item in items
    ]
    retried = request.query.get("retried")
    left = request.query.get("left")
    notice = (
        t.gettext("Retried: %(retried)s, still in the quarantine: %(left)s.", retried=retried, left=left)
        if retried and left and retried.isdigit() and left.isdigit()
        else ""
    )
    response = render(
        request,
        "web/quarantine.html",
        {
            "lang": lang,
            "account": account,
            "rows": rows,
            "notice": notice,
            "csrf_token": principal.csrf_token or "",
            **topbar(request, principal, "channels"),
        },
    )
    remember_language(request, response)
    return response


@routes.post(r"/admin/channels/{id:\d+}/quarantine/retry")
async def retry_account(request: web.Request) -> web.Response:
    """The retry button: every item of the account through today's parsers, then back to the list."""
    hub = hub_of(request)
    account_id = path_id(request)
    form = await request.post()
    async with db(request) as session:
        principal = await page_principal(request, session, csrf=str(form.get("csrf_token", "")))
        _, _, refusal = _admin_gate(request, principal)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
    outcomes = await retrying.retry(hub, account_id=account_id, actor_agent_id=principal.agent.id)
    left = sum(o.status != "ingested" for o in outcomes)
    return redirect(f"/admin/channels/{account_id}/quarantine?retried={len(outcomes)}&left={left}", 303)
