"""The agent inbox: ``/inbox`` (and ``/inbox/{id}`` with a conversation open), rendered on the server,
and the fragments its script fetches to refresh itself when the agent WebSocket reports a change:
``/inbox/parts/list`` and ``/inbox/parts/conversation/{id}`` (and the search panel and the card's merge
box: ``/inbox/parts/search``, ``/inbox/parts/merge``).

Everything is rendered by Jinja with autoescaping, so client text is always text; the script only
swaps these fragments in and calls the JSON API for actions. Queues, filters and the open conversation
live in the URL, so a reload (or a link) shows the same view.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hub.web.auth import Principal, authenticate, authenticate_reading
from hub.web.context import db, db_read, hub_of, online_agents
from hub.web.errors import ApiError, not_found, unauthorized
from hub.web.inputs import path_id
from hub.web.ui import i18n, inbox_view
from hub.web.ui.pages import language, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox.card_changes import card_summary
from inbox.contacts import ContactNotFound
from inbox.conversations import (
    STATUSES,
    ConversationNotFound,
    NotAllowed,
    Viewer,
    get_visible_conversation,
)
from inbox.models import utcnow
from inbox.queues import QUEUES, Queue, channel_kinds, queue_counts, queue_page, queue_places, queues_for
from inbox.reads import mark_read
from inbox.reports.due import open_dues
from inbox.routing.router import Queued, is_waiting
from inbox.search import CardHit, ConversationHit, MessageHit, SearchError, search
from inbox.tasks import my_open_tasks

routes = web.RouteTableDef()

STATIC = Path(__file__).resolve().parent.parent / "static"
LIST_LIMIT = 100
STATUSES_AVAILABLE = ("online", "busy", "offline")  # the header's switch (inbox.routing.availability)
# The header's time zone choice: Russia's zones west to east, then neighbours and a few far ones. The
# agent's own zone (from their browser on the first visit) is added when it is none of these.
COMMON_ZONES = (
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Yakutsk",
    "Asia/Vladivostok",
    "Asia/Magadan",
    "Asia/Kamchatka",
    "Europe/Minsk",
    "Asia/Almaty",
    "Asia/Tashkent",
    "Asia/Tbilisi",
    "Europe/Istanbul",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "UTC",
)


def zone_choices(current: str) -> list[dict[str, str]]:
    """The zones to choose from, each with its offset now ("UTC+10:00"); `current` among them."""
    names = list(COMMON_ZONES) if current in COMMON_ZONES else [current, *COMMON_ZONES]
    minute = utcnow().replace(second=0, microsecond=0)
    return [{"name": name, "label": _zone_label(name, minute)} for name in names]


@functools.lru_cache(maxsize=256)
def _zone_label(name: str, minute: datetime) -> str:
    """A zone's label at this minute (offsets change on whole minutes): formatted once a minute, not for
    each of the ~20 zones on every page (a twentieth of the /inbox page's time)."""
    offset = minute.astimezone(ZoneInfo(name)).strftime("%z")
    return f"{name} (UTC{offset[:3]}:{offset[3:]})"


def asset_version() -> str:
    digest = hashlib.sha256()
    for name in ("inbox.js", "okno.css", "templates.js", "tasks.js"):
        path = STATIC / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSETS = asset_version()


@dataclass(frozen=True, slots=True)
class View:
    """The list the agent looks at: a queue, a status (None: any) and a channel (None: any)."""

    queue: Queue
    status: str | None
    channel: str | None

    @classmethod
    def of(cls, request: web.Request, principal: Principal, kinds: list[str]) -> View:
        allowed = queues_for(principal.viewer)
        queue = request.query.get("queue", "all")
        status = request.query.get("status", "open")
        channel = request.query.get("channel") or None
        return cls(
            queue=next((q for q in allowed if q == queue), "all"),
            status=status if status in STATUSES else None,
            channel=channel if channel in kinds else None,
        )

    def query(self, **changes: str | None) -> str:
        values = {"queue": self.queue, "status": self.status or "any", "channel": self.channel}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})


async def _principal(
    request: web.Request, session: AsyncSession, *, reading: bool = False
) -> Principal | None:
    """Who asks (None: nobody signed in, or a wrong credential); `reading`: in the read-only session of a
    request that only reads (hub.web.auth.authenticate_reading), whose read transaction then goes on (a
    GET reads no body: nothing to end it for, and ending it cost two round trips on PostgreSQL)."""
    try:
        if reading:
            return await authenticate_reading(request, session, end_read=False)
        return await authenticate(request, session)
    except ApiError as exc:
        if exc.code == "network_not_allowed":
            raise
        return None


def _clock(request: web.Request, principal: Principal, lang: str) -> inbox_view.Clock:
    return inbox_view.agent_clock(principal.agent, hub_of(request).settings.business_hours.timezone, lang)


async def _list_context(
    request: web.Request, session: AsyncSession, principal: Principal, view: View, lang: str
) -> dict[str, Any]:
    t = i18n.Texts(lang)
    viewer = principal.viewer
    counts = await queue_counts(session, viewer, status=view.status, channel=view.channel)
    convs = await queue_page(
        session, viewer, view.queue, status=view.status, channel=view.channel, limit=LIST_LIMIT
    )
    clock = _clock(request, principal, lang)
    rows = inbox_view.list_rows(convs, viewer, clock)
    hub = hub_of(request)
    now = utcnow()
    dues = await open_dues(
        session, (c.id for c in convs), sla=hub.sla, calendars=hub.policy.calendars, now=now
    )
    for row in rows:
        row["sla"] = inbox_view.sla_mark(dues.get(row["id"]), clock, now)
    queue = await _queue(session, viewer, convs)
    for row in rows:
        row["queue"] = _queue_label(queue.get(row["id"]), t)
    return {
        "rows": rows,
        "rows_html": inbox_view.list_html(rows, view.query(), t),
        "counts": counts,
        "queues": [
            {
                "key": q,
                "label": t.label(i18n.QUEUES, q),
                "count": counts[q],
                "href": "/inbox?" + view.query(queue=q),
            }
            for q in queues_for(viewer)
        ],
        "view": view,
        "view_query": view.query(),
        "list_title": t.label(i18n.LISTS, view.status),
    }


async def _queue(session: AsyncSession, viewer: Viewer, convs: Sequence[Queued]) -> dict[int, dict[str, Any]]:
    """Of these conversations, those waiting in a line of the viewer's teams (an admin: any), by id: place
    in line and wait. Only the lines of the listed dialogs that wait are counted, and none when none waits
    (an agent's own queue): a team's line is thousands of rows in a backlog."""
    waiting = [c for c in convs if is_waiting(c)]
    teams = {c.team_id for c in waiting if c.team_id is not None}
    if not viewer.is_admin:
        teams &= viewer.team_ids
    if not teams:
        return {}
    return await queue_places(session, teams, [c.id for c in waiting if c.team_id in teams], utcnow())


def _queue_label(place: dict[str, Any] | None, t: i18n.Texts) -> str | None:
    if place is None:
        return None
    return t.queue_place(place["position"], place["waiting_seconds"])


async def _conversation_context(
    request: web.Request, session: AsyncSession, principal: Principal, conversation_id: int, lang: str
) -> dict[str, Any]:
    viewer = principal.viewer
    conv = await get_visible_conversation(session, viewer, conversation_id)
    # Shown to the agent: read by them. Committed at once (it ends this read; the rest reads anew).
    await mark_read(session, principal.agent.id, conv.id)
    await session.commit()
    clock = _clock(request, principal, lang)
    t = clock.t
    card = await inbox_view.card(session, conv.contact_id, conv, viewer, clock)
    timeline = await inbox_view.timeline_items(session, card["id"], conv, viewer, clock)
    agents, teams = await inbox_view.assignees(session)
    online = await online_agents(request, session)
    for agent in agents:
        agent["online"] = agent["id"] in online
    return {
        "conv": {
            "id": conv.id,
            "status": conv.status,
            "status_label": t.status(conv.status),
            "channel": conv.channel_kind,
            "channel_label": t.channel(conv.channel_kind),
            "subject": conv.subject,
            "assignee_id": conv.assignee_id,
            "team_id": conv.team_id,
            "snoozed_until": clock.full(conv.snoozed_until) if conv.snoozed_until else None,
            "blocked_reason": conv.blocked_reason,
            "contact_id": card["id"],
            "queue": _queue_label((await _queue(session, viewer, [conv])).get(conv.id), t),
            "can_take": conv.assignee_id is None
            and conv.status in ("open", "pending")
            and (viewer.is_admin or conv.team_id in viewer.team_ids),
            # The composer offers only what a reply through this channel can carry (files, typing).
            "capabilities": hub_of(request).account_capabilities(conv.account_id).to_dict(),
        },
        "card": card,
        "timeline": timeline,
        "agents": agents,
        "teams": teams,
    }


async def _page(request: web.Request, conversation_id: int | None) -> web.Response:
    next_path = request.path_qs
    # Opening a conversation marks it read (a write); the list alone only reads: who asks and the page, in
    # one session that never waits for SQLite's write lock (hub.db.read_sessionmaker).
    reading = conversation_id is None
    async with db_read(request) if reading else db(request) as session:
        principal = await _principal(request, session, reading=reading)
        if principal is None:
            return redirect("/login?next=" + quote(next_path, safe="/"), 302)
        lang = language(request, principal.agent)
        kinds = await channel_kinds(session)
        view = View.of(request, principal, kinds)
        context: dict[str, Any] = {}
        if conversation_id is not None:  # first: opening it marks it read, which the list then shows
            try:
                context |= await _conversation_context(request, session, principal, conversation_id, lang)
            except (ConversationNotFound, NotAllowed):
                return redirect("/inbox?" + view.query(), 302)
        context |= await _list_context(request, session, principal, view, lang)
        my_tasks = await my_open_tasks(session, principal.viewer)
    agent = principal.agent
    t = i18n.Texts(lang)
    response = render(
        request,
        "web/inbox.html",
        {
            **context,
            "lang": lang,
            "agent": {
                "id": agent.id,
                "name": agent.name,
                "role": agent.role,
                "initials": inbox_view.initials(agent.name),
                "status": agent.status,
            },
            "availabilities": STATUSES_AVAILABLE,
            # Times are shown in this zone; unset (null in the page's data): the script sends the browser's.
            "timezone": agent.timezone,
            "zones": zone_choices(agent.timezone or hub_of(request).settings.business_hours.timezone),
            "zone": agent.timezone or hub_of(request).settings.business_hours.timezone,
            "my_tasks": my_tasks,
            "csrf_token": principal.csrf_token or "",
            "channels": kinds,
            "statuses": STATUSES,
            "script_strings": {key: t.msg(message) for key, message in i18n.SCRIPT_STRINGS.items()},
            "assets": ASSETS,
            "conv": context.get("conv"),
            "here": request.path,
            **topbar(request, principal, "inbox"),
        },
    )
    remember_language(request, response)
    return response


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.Response:
    return await _page(request, None)


@routes.get(r"/inbox/{id:\d+}")
async def inbox_conversation(request: web.Request) -> web.Response:
    return await _page(request, path_id(request))


async def _fragment(request: web.Request, template: str, conversation_id: int | None) -> web.Response:
    reading = conversation_id is None  # as in `_page`
    async with db_read(request) if reading else db(request) as session:
        principal = await _principal(request, session, reading=reading)
        if principal is None:
            raise unauthorized()
        lang = language(request, principal.agent)
        if conversation_id is None:
            view = View.of(request, principal, await channel_kinds(session))
            context = await _list_context(request, session, principal, view, lang)
        else:
            context = await _conversation_context(request, session, principal, conversation_id, lang)
    return render(
        request,
        template,
        {**context, "lang": lang, "agent": {"id": principal.agent.id, "role": principal.agent.role}},
    )


@routes.get("/inbox/parts/list")
async def list_part(request: web.Request) -> web.Response:
    return await _fragment(request, "web/parts/list.html", None)


@routes.get(r"/inbox/parts/conversation/{id:\d+}")
async def conversation_part(request: web.Request) -> web.Response:
    return await _fragment(request, "web/parts/conversation.html", path_id(request))


__all__ = ["QUEUES", "STATIC", "routes"]


SEARCH_LIMIT = 8  # hits of each kind in the inbox's search panel


@routes.get("/inbox/parts/search")
async def search_part(request: web.Request) -> web.Response:
    """The search panel under the inbox's search box: messages (with snippets), conversations and cards,
    grouped; `contact` is the open conversation's card, which a card hit may be merged into."""
    async with db_read(request) as session:
        principal = await _principal(request, session, reading=True)
        if principal is None:
            raise unauthorized()
        lang = language(request, principal.agent)
        t = i18n.Texts(lang)
        clock = _clock(request, principal, lang)
        open_card = request.query.get("contact", "")
        context: dict[str, Any] = {
            "lang": lang,
            "messages": [],
            "conversations": [],
            "cards": [],
            "error": None,
        }
        try:
            page = await search(
                session,
                principal.viewer,
                request.query.get("q"),
                limit=SEARCH_LIMIT,
                region=hub_of(request).settings.default_region,
            )
        except SearchError:
            context["error"] = t.gettext("Type a word, an order number or a phone number")
        else:
            for hit in page.hits:
                if isinstance(hit, MessageHit):
                    context["messages"].append(
                        {
                            "hit": hit,
                            "when": clock.short(hit.created_at),
                            "when_full": clock.full(hit.created_at),
                        }
                    )
                elif isinstance(hit, ConversationHit):
                    context["conversations"].append(
                        {"hit": hit, "channel": t.channel(hit.channel_kind), "status": t.status(hit.status)}
                    )
                elif isinstance(hit, CardHit):
                    kind = t.gettext("Client") if hit.card_kind == "client" else t.gettext("Lead")
                    identities = [f"{t.label(i18n.IDENTITIES, k)}: {v}" for k, v in hit.identities]
                    context["cards"].append({"hit": hit, "kind": kind, "identities": identities})
        context["open_card"] = int(open_card) if open_card.isdigit() and len(open_card) < 19 else None
        context["can_merge"] = principal.agent.role in ("supervisor", "admin")
    return render(request, "web/parts/search.html", context)


@routes.get("/inbox/parts/merge")
async def merge_part(request: web.Request) -> web.Response:
    """The card's "Merge with…" box: `q` finds other cards the agent may see; `other` shows that card
    beside the open one (`contact`) for the agent to confirm the merge."""
    async with db(request) as session:
        principal = await _principal(request, session)
        if principal is None:
            raise unauthorized()
        lang = language(request, principal.agent)
        t = i18n.Texts(lang)
        contact_id = _id_of(request.query.get("contact", ""))
        other_id = _id_of(request.query.get("other", ""))
        context: dict[str, Any] = {
            "lang": lang,
            "error": None,
            "pair": None,
            "cards": [],
            "labels": {k: t.label(i18n.IDENTITIES, k) for k in i18n.IDENTITIES},
        }
        if contact_id is None:
            raise not_found("contact not found")
        mine = await card_summary(session, principal.viewer, contact_id)
        if other_id is not None:
            try:
                other = await card_summary(session, principal.viewer, other_id)
            except ContactNotFound:
                context["error"] = t.gettext("That card is not there any more")
            else:
                if other.id == mine.id:
                    context["error"] = t.gettext("That is this card")
                else:
                    context["pair"] = (mine, other)
        else:
            try:
                page = await search(
                    session,
                    principal.viewer,
                    request.query.get("q"),
                    kinds=("card",),
                    limit=SEARCH_LIMIT,
                    region=hub_of(request).settings.default_region,
                )
            except SearchError:
                context["error"] = t.gettext("Type a name, a company, an e-mail or a phone number")
            else:
                for hit in page.hits:
                    if isinstance(hit, CardHit) and hit.id != mine.id:
                        identities = [f"{t.label(i18n.IDENTITIES, k)}: {v}" for k, v in hit.identities]
                        context["cards"].append(
                            {"id": hit.id, "name": hit.name, "company": hit.company, "identities": identities}
                        )
    return render(request, "web/parts/merge.html", context)


def _id_of(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 19 and int(text) > 0 else None
