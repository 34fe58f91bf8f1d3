"""Routing pages: the rules (/admin/routing, admins) and the supervisors' board (/routing/board).

The rules page lists the ordered rules and edits them as one JSON document (the shape of
``PUT /api/v1/routing/rules`` and of ``[[routing.rules]]``): the checks are inbox.routing.rules', so an
error names the rule's index and key (``rules[2].auto_reply``), shown above the text the admin sent.
Each row also has "up", "down" and "delete" buttons. Every form carries the session's CSRF token.

The board shows, for the teams the viewer supervises (an admin: every team), each agent's status,
presence and load against capacity, each team's queue with places and waits, and each team's routing
settings as a form (inbox.routing.teams: audited; the database then wins over the configuration). Its
live part is re-read by /static/board.js every few seconds (``?part=live``): no socket of its own.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.i18n import N_, Msg
from hub.web.audit_trail import origin
from hub.web.auth import Principal
from hub.web.context import db, hub_of
from hub.web.inputs import path_id
from hub.web.ui import i18n
from hub.web.ui.inbox import ASSETS
from hub.web.ui.pages import language, page_principal, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox.models import Team, utcnow
from inbox.routing.board import availability_board
from inbox.routing.router import RoutingError, queue_positions
from inbox.routing.rules import MAX_RULES, RuleError, RuleSpec, load_rules, parse_rules, store_rules
from inbox.routing.strategies import STRATEGIES
from inbox.routing.teams import set_team_routing

routes = web.RouteTableDef()

RULES_PAGE = "/admin/routing"
BOARD_PAGE = "/routing/board"
MAX_DOCUMENT = 200_000  # characters of the rules' JSON


def _gate(
    request: web.Request, principal: Principal | None, roles: tuple[str, ...], refusal: Msg
) -> tuple[str, i18n.Texts, web.Response | None]:
    """The page's language and strings, and the answer instead of the page for one who may not see it."""
    if principal is None:
        login = redirect("/login?next=" + quote(request.path_qs, safe="/"), 302)
        return i18n.DEFAULT, i18n.Texts(i18n.DEFAULT), login
    lang = language(request, principal.agent)
    t = i18n.Texts(lang)
    if principal.agent.role not in roles:
        return lang, t, web.Response(status=403, text=t.msg(refusal))
    return lang, t, None


def _document(specs: list[RuleSpec]) -> str:
    """The rules as the editor shows them: only what each rule sets."""
    rules = [spec.model_dump(exclude_defaults=True) for spec in specs]
    return json.dumps(rules, ensure_ascii=False, indent=2)


def _summary(spec: RuleSpec) -> str:
    """The rule's conditions in one line (keys as in the document, which the page documents)."""
    when = spec.when.model_dump(exclude_defaults=True)
    return "; ".join(f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in when.items())


async def _rules_page(
    request: web.Request,
    principal: Principal,
    lang: str,
    specs: list[RuleSpec],
    *,
    document: str | None = None,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> web.Response:
    rows = [
        {
            "index": index,
            "name": spec.name,
            "conditions": _summary(spec),
            "team": spec.team or "",
            "priority": spec.priority,
            "tags": ", ".join(spec.tags),
            "auto_reply": spec.auto_reply or "",
        }
        for index, spec in enumerate(specs)
    ]
    response = render(
        request,
        "web/routing_rules.html",
        {
            "lang": lang,
            "csrf_token": principal.csrf_token or "",
            "rows": rows,
            "document": _document(specs) if document is None else document,
            "error": error,
            "notice": notice,
            **topbar(request, principal, "rules", path=RULES_PAGE),
        },
        status=status,
    )
    remember_language(request, response)
    return response


REFUSE_RULES = N_("The routing rules are for admins only.")
REFUSE_BOARD = N_("The routing board is for supervisors and admins.")


@routes.get(RULES_PAGE)
async def rules_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await page_principal(request, session)
        lang, t, refusal = _gate(request, principal, ("admin",), REFUSE_RULES)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
        specs = [spec for spec, _ in await load_rules(session)]
    saved = request.query.get("saved")
    notice = t.gettext("The rules are saved.") if saved == "1" else ""
    return await _rules_page(request, principal, lang, specs, notice=notice)


def _parse_document(text: str, t: i18n.Texts) -> list[Any]:
    """The editor's text as a list of rules; a RuleError (with a readable message) otherwise."""
    if len(text) > MAX_DOCUMENT:
        raise RuleError(t.gettext("The rules are longer than %(max)d characters.", max=MAX_DOCUMENT), "rules")
    try:
        value = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        message = t.gettext(
            "Not valid JSON: line %(line)d, column %(column)d: %(reason)s",
            line=exc.lineno,
            column=exc.colno,
            reason=exc.msg,
        )
        raise RuleError(message, "rules") from None
    if not isinstance(value, list):
        raise RuleError(t.gettext("The rules must be a JSON list: [ {…}, {…} ]."), "rules")
    if len(value) > MAX_RULES:
        raise RuleError(t.gettext("At most %(max)d rules.", max=MAX_RULES), "rules")
    return value


@routes.post(RULES_PAGE)
async def save_rules(request: web.Request) -> web.Response:
    """Replace the rules: the whole document (the editor), or one row moved up or down, or deleted."""
    form = await request.post()
    async with db(request) as session:
        principal = await page_principal(request, session, csrf=str(form.get("csrf_token", "")))
        lang, t, refusal = _gate(request, principal, ("admin",), REFUSE_RULES)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
        current = [spec for spec, _ in await load_rules(session)]
        action = str(form.get("action", "save"))
        document: str | None = None
        try:
            if action == "save":
                document = str(form.get("rules", ""))
                specs = parse_rules(_parse_document(document, t))
            else:
                specs = _rearranged(current, action, str(form.get("index", "")))
            await store_rules(session, specs, actor_id=principal.agent.id)
        except RuleError as exc:  # nothing was changed yet: the session ends without a commit
            return await _rules_page(
                request, principal, lang, current, document=document, error=str(exc), status=422
            )
        await session.commit()
    return redirect(f"{RULES_PAGE}?saved=1", 303)


def _rearranged(specs: list[RuleSpec], action: str, index_text: str) -> list[RuleSpec]:
    """The rules with the one at `index_text` moved up, down, or deleted."""
    if not index_text.isdigit() or int(index_text) >= len(specs):
        raise RuleError(f"no rule number {index_text!r}", "index")
    index = int(index_text)
    specs = list(specs)
    if action == "delete":
        del specs[index]
    elif action in ("up", "down"):
        other = index - 1 if action == "up" else index + 1
        if 0 <= other < len(specs):
            specs[index], specs[other] = specs[other], specs[index]
    else:
        raise RuleError(f"unknown action {action!r}", "action")
    return specs


def _minutes(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds / 60:g}"


async def _board_context(session: AsyncSession, principal: Principal, t: i18n.Texts) -> dict[str, Any]:
    viewer = principal.viewer
    now = utcnow()
    stmt = select(Team).order_by(Team.name)
    if not viewer.is_admin:
        stmt = stmt.where(Team.id.in_(sorted(viewer.team_ids)))
    teams = list(await session.scalars(stmt))
    agents = await availability_board(session, viewer, now)
    queue = await queue_positions(session, None if viewer.is_admin else set(viewer.team_ids), now)
    team_rows = []
    for team in teams:
        waiting = [q for q in queue if q["team_id"] == team.id]
        team_rows.append(
            {
                "id": team.id,
                "name": team.name,
                "strategy": team.strategy,
                "agent_capacity": "" if team.agent_capacity is None else team.agent_capacity,
                "timeout_minutes": _minutes(team.answer_timeout_seconds),
                "queue": [
                    {
                        "conversation_id": q["conversation_id"],
                        "position": q["position"],
                        "priority": q["priority"],
                        "waited": t.waited(q["waiting_seconds"]),
                    }
                    for q in waiting
                ],
                "members": [a for a in agents if team.id in a["team_ids"]],
            }
        )
    return {
        "teams": team_rows,
        "agents": [
            {
                **a,
                "status_label": t.availability(a["status"]),
                "presence_label": t.label(i18n.PRESENCE, a["presence"]),
                "full": a["open"] >= a["capacity"],
            }
            for a in agents
        ],
        "strategies": [(s, t.label(i18n.STRATEGIES, s)) for s in STRATEGIES],
    }


@routes.get(BOARD_PAGE)
async def board_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await page_principal(request, session)
        lang, t, refusal = _gate(request, principal, ("supervisor", "admin"), REFUSE_BOARD)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
        context = await _board_context(session, principal, t)
    live_only = request.query.get("part") == "live"
    saved = request.query.get("saved")
    context |= {
        "lang": lang,
        "csrf_token": principal.csrf_token or "",
        "assets": ASSETS,
        "is_admin": principal.agent.role == "admin",
        "notice": t.gettext("The team's routing is saved.") if saved else "",
        "error": "",
        "error_team": None,
        **topbar(request, principal, "board"),
    }
    response = render(request, "web/routing_live.html" if live_only else "web/routing_board.html", context)
    remember_language(request, response)
    return response


def _whole(value: str, field: str, t: i18n.Texts) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise RoutingError(t.gettext("%(field)s: a whole number, or empty", field=field), field)
    return int(value)


@routes.post(r"/routing/board/teams/{id:\d+}")
async def save_team(request: web.Request) -> web.Response:
    """A team's routing form on the board: the same checks and audit row as the API."""
    team_id = path_id(request)
    form = await request.post()
    async with db(request) as session:
        principal = await page_principal(request, session, csrf=str(form.get("csrf_token", "")))
        lang, t, refusal = _gate(request, principal, ("supervisor", "admin"), REFUSE_BOARD)
        if refusal is not None or principal is None:
            assert refusal is not None
            return refusal
        viewer = principal.viewer
        if not viewer.is_admin and team_id not in viewer.team_ids:
            return web.Response(status=403, text=t.gettext("Only a supervisor of this team may change it."))
        try:
            minutes = str(form.get("answer_timeout_minutes", "")).strip().replace(",", ".")
            try:
                timeout = round(float(minutes) * 60) if minutes else None
            except ValueError:
                raise RoutingError(
                    t.gettext("%(field)s: a number of minutes, or empty", field="answer_timeout_minutes"),
                    "answer_timeout_minutes",
                ) from None
            await set_team_routing(
                session,
                team_id,
                strategy=str(form.get("strategy", "")),
                agent_capacity=_whole(str(form.get("agent_capacity", "")), "agent_capacity", t),
                answer_timeout_seconds=timeout,
                actor_id=principal.agent.id,
                origin=origin(request),
            )
        except RoutingError as exc:  # refused before any change
            if exc.field == "id":
                return web.Response(status=404, text=t.gettext("No such team."))
            context = await _board_context(session, principal, t)
            context |= {
                "lang": lang,
                "csrf_token": principal.csrf_token or "",
                "assets": ASSETS,
                "is_admin": principal.agent.role == "admin",
                "notice": "",
                "error": str(exc),
                "error_team": team_id,
                **topbar(request, principal, "board", path=BOARD_PAGE),
            }
            return render(request, "web/routing_board.html", context, status=422)
        await session.commit()
    hub_of(request).router.wake()
    return redirect(f"{BOARD_PAGE}?saved={team_id}#team-{team_id}", 303)
