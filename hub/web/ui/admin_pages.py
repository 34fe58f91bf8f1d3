"""/admin/agents: agents and teams for admins, and for supervisors the agents of their own teams.

The list shows each agent's e-mail, role, teams, capacity (and limits per channel kind), extension,
whether they are active, their presence and status. Forms (each with the session's CSRF token, no
script needed): create an agent (a password typed or generated and shown once), change one (the admin's
fields only for admins), deactivate and reactivate, reset a password (a new one shown once); admins also
create, rename and staff teams. The rules are :mod:`inbox.agent_admin`'s and the changes go the API's way
(:func:`hub.web.api.admin.change_agent`: credentials ended with a new password or a deactivation).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from hub.i18n import N_
from hub.web.api.admin import change_agent
from hub.web.audit_trail import origin
from hub.web.auth import Principal
from hub.web.context import db, hub_of, online_agents
from hub.web.inputs import path_id
from hub.web.ui import i18n
from hub.web.ui.pages import language, page_principal, redirect, remember_language, render
from hub.web.ui.topbar import topbar
from inbox import agent_admin
from inbox.agents import MIN_PASSWORD, AgentError, agent_with_teams, generate_password, hash_password_async
from inbox.conversations import ROLES, NotAllowed
from inbox.models import Agent

routes = web.RouteTableDef()

PAGE: Final = "/admin/agents"
REFUSE: Final = N_("Agents and teams are for supervisors and admins.")
Form = MultiDictProxy[str | bytes | Any]


def _gate(request: web.Request, principal: Principal | None) -> tuple[str, i18n.Texts, web.Response | None]:
    if principal is None:
        return i18n.DEFAULT, i18n.Texts(i18n.DEFAULT), redirect("/login?next=" + quote(PAGE, safe="/"), 302)
    lang = language(request, principal.agent)
    t = i18n.Texts(lang)
    if principal.agent.role not in ("supervisor", "admin"):
        return lang, t, web.Response(status=403, text=t.msg(REFUSE))
    return lang, t, None


def _limits(value: dict[str, int] | None) -> str:
    return ", ".join(f"{kind}={limit}" for kind, limit in sorted((value or {}).items()))


def _parse_limits(text: str, t: i18n.Texts) -> dict[str, int] | None:
    """``webchat=3, email=2`` as a dict (empty: no limits per channel kind)."""
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, number = part.partition("=")
        kind, number = kind.strip(), number.strip()
        if not kind.isidentifier() or not kind.islower() or not number.isdigit() or len(kind) > 20:
            raise AgentError(
                t.gettext("Limits per channel: like “webchat=3, email=2”, not “%(part)s”.", part=part),
                "channel_capacity",
            )
        limits[kind] = int(number)
    return limits or None


def _whole(text: str, field: str, t: i18n.Texts) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > 10_000:
        raise AgentError(t.gettext("%(field)s: a whole number up to 10000, or empty", field=field), field)
    return int(text)


def _team_ids(form: Form, allowed: set[int]) -> list[int]:
    """The teams ticked in the form, of those it offered."""
    ids = [int(v) for v in form.getall("team_ids", []) if isinstance(v, str) and v.isdigit()]
    return [i for i in ids if i in allowed]


async def _context(
    request: web.Request, session: AsyncSession, principal: Principal, t: i18n.Texts
) -> dict[str, Any]:
    viewer = principal.viewer
    agents = await agent_admin.manageable_agents(session, viewer)
    online = await online_agents(request, session)
    teams = await agent_admin.list_teams(session)
    offered = teams if viewer.is_admin else [team for team in teams if team.id in viewer.team_ids]
    rows = [
        {
            "id": a.id,
            "name": a.name,
            "email": a.email,
            "role": a.role,
            "role_label": t.role(a.role),
            "teams": ", ".join(team.name for team in a.teams),
            "team_ids": [team.id for team in a.teams],
            "capacity": "" if a.capacity is None else a.capacity,
            "limits": _limits(a.channel_capacity),
            "extension": a.extension or "",
            "active": a.is_active,
            "presence_label": t.label(i18n.PRESENCE, "online" if a.id in online else "offline"),
            "status_label": t.availability(a.status),
            "editable": agent_admin.may_manage(viewer, a),
        }
        for a in agents
    ]
    members: dict[int, list[int]] = {team.id: [] for team in teams}
    for a in agents:
        for team in a.teams:
            members[team.id].append(a.id)
    return {
        "rows": rows,
        "teams": [{"id": team.id, "name": team.name, "members": members[team.id]} for team in offered],
        "is_admin": viewer.is_admin,
        "roles": [(r, t.role(r)) for r in ROLES],
        "min_password": MIN_PASSWORD,
    }


async def _page(
    request: web.Request,
    principal: Principal,
    lang: str,
    t: i18n.Texts,
    *,
    notice: str = "",
    error: str = "",
    error_field: str = "",
    password: dict[str, str] | None = None,
    edit: int | None = None,
    status: int = 200,
) -> web.Response:
    async with db(request) as session:
        context = await _context(request, session, principal, t)
    editing = next((r for r in context["rows"] if r["id"] == edit and r["editable"]), None)
    response = render(
        request,
        "web/admin_agents.html",
        {
            **context,
            "lang": lang,
            "csrf_token": principal.csrf_token or "",
            "notice": notice,
            "error": error,
            "error_field": error_field,
            "password": password,
            "editing": editing,
            **topbar(request, principal, "agents", path=PAGE),
        },
        status=status,
    )
    remember_language(request, response)
    return response


NOTICES: Final = {
    "created": N_("The agent is created."),
    "saved": N_("The agent is saved."),
    "deactivated": N_("The agent is deactivated: their sessions and tokens no longer work."),
    "reactivated": N_("The agent is active again."),
    "team": N_("The team is saved."),
}


@routes.get(PAGE)
async def agents_page(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await page_principal(request, session)
    lang, t, refusal = _gate(request, principal)
    if refusal is not None or principal is None:
        assert refusal is not None
        return refusal
    done = NOTICES.get(request.query.get("done", ""))
    edit = request.query.get("edit", "")
    return await _page(
        request,
        principal,
        lang,
        t,
        notice=t.msg(done) if done else "",
        edit=int(edit) if edit.isdigit() and len(edit) < 12 else None,
    )


async def _form_principal(
    request: web.Request,
) -> tuple[Form, Principal | None, str, i18n.Texts, web.Response | None]:
    form = await request.post()
    async with db(request) as session:
        principal = await page_principal(request, session, csrf=str(form.get("csrf_token", "")))
    lang, t, refusal = _gate(request, principal)
    return form, principal, lang, t, refusal


@routes.post(PAGE)
async def create_agent(request: web.Request) -> web.Response:
    """A new agent; with no password typed, a generated one is shown once."""
    form, principal, lang, t, refusal = await _form_principal(request)
    if refusal is not None or principal is None:
        assert refusal is not None
        return refusal
    typed = str(form.get("password", ""))
    password = typed or generate_password()
    password_hash = await hash_password_async(password)  # before the transaction
    viewer = principal.viewer
    try:
        async with db(request) as session:
            teams = {team.id for team in await agent_admin.list_teams(session)}
            agent = await agent_admin.add_agent(
                session,
                email=str(form.get("email", "")),
                name=str(form.get("name", "")),
                password=password,
                password_hash=password_hash,
                role=str(form.get("role", "agent")) if viewer.is_admin else "agent",
                team_ids=_team_ids(form, teams if viewer.is_admin else set(viewer.team_ids)),
                extension=str(form.get("extension", "")).strip() or None,
                capacity=_whole(str(form.get("capacity", "")), "capacity", t),
                actor_id=principal.agent.id,
                viewer=viewer,
                origin=origin(request),
            )
            name, email = agent.name, agent.email
            await session.commit()
    except AgentError as exc:
        return await _page(
            request, principal, lang, t, error=str(exc), error_field=exc.field or "", status=422
        )
    except NotAllowed as exc:
        return web.Response(status=403, text=str(exc))
    hub_of(request).router.wake()
    if typed:
        return redirect(f"{PAGE}?done=created", 303)
    return await _page(
        request,
        principal,
        lang,
        t,
        notice=t.msg(NOTICES["created"]),
        password={"name": name, "email": email, "password": password},
    )


def _changes(form: Form, viewer_is_admin: bool, offered: set[int], t: i18n.Texts) -> dict[str, Any]:
    """The edit form's fields as changes (the admin's fields only from an admin's form)."""
    changes: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "extension": str(form.get("extension", "")).strip() or None,
        "channel_capacity": _parse_limits(str(form.get("channel_capacity", "")), t),
        "team_ids": _team_ids(form, offered),
    }
    capacity = _whole(str(form.get("capacity", "")), "capacity", t)
    if capacity is not None:
        changes["capacity"] = capacity
    if viewer_is_admin:
        changes["email"] = str(form.get("email", ""))
        changes["role"] = str(form.get("role", ""))
    return changes


def _changed(agent: Agent, changes: dict[str, Any]) -> dict[str, Any]:
    current = {
        "name": agent.name,
        "email": agent.email,
        "role": agent.role,
        "capacity": agent.capacity,
        "extension": agent.extension,
        "channel_capacity": agent.channel_capacity or None,
        "team_ids": sorted(team.id for team in agent.teams),
    }
    return {
        key: value
        for key, value in changes.items()
        if (sorted(value) if key == "team_ids" else value) != current.get(key, object())
    }


@routes.post(r"/admin/agents/{id:\d+}")
async def change(request: web.Request) -> web.Response:
    """One agent: ``action`` save (the edit form), deactivate, reactivate or reset_password."""
    agent_id = path_id(request)
    form, principal, lang, t, refusal = await _form_principal(request)
    if refusal is not None or principal is None:
        assert refusal is not None
        return refusal
    viewer = principal.viewer
    action = str(form.get("action", ""))
    password: str | None = None
    try:
        if action == "save":
            async with db(request) as session:
                found = await agent_with_teams(session, agent_id)
                before = [team.id for team in found.teams] if found is not None else []
            offered = set(viewer.team_ids) if not viewer.is_admin else None
            kept = [i for i in before if offered is not None and i not in offered]
            allowed = offered if offered is not None else await _all_team_ids(request)
            changes = _changes(form, viewer.is_admin, allowed, t)
            changes["team_ids"] = [*kept, *changes["team_ids"]]  # a supervisor's form shows only theirs
            if found is not None:  # the audit row names what changed, not every field of the form
                changes = _changed(found, changes)
        elif action in ("deactivate", "reactivate"):
            changes = {"is_active": action == "reactivate"}
        elif action == "reset_password":
            changes = {}
            password = generate_password()
        else:
            return web.Response(status=400, text=t.gettext("Unknown action."))
        password_hash = await hash_password_async(password) if password is not None else None
        async with db(request) as session:
            agent = await change_agent(request, session, principal, agent_id, changes, password_hash)
            name, email = agent.name, agent.email
    except AgentError as exc:
        return await _page(
            request,
            principal,
            lang,
            t,
            error=str(exc),
            error_field=exc.field or "",
            edit=agent_id,
            status=422,
        )
    except NotAllowed as exc:
        return web.Response(status=403, text=str(exc))
    except agent_admin.AgentNotFound:
        return web.Response(status=404, text=t.gettext("No such agent."))
    hub_of(request).router.wake()
    if password is not None:
        return await _page(
            request, principal, lang, t, password={"name": name, "email": email, "password": password}
        )
    done = {"save": "saved", "deactivate": "deactivated", "reactivate": "reactivated"}[action]
    return redirect(f"{PAGE}?done={done}", 303)


async def _all_team_ids(request: web.Request) -> set[int]:
    async with db(request) as session:
        return {team.id for team in await agent_admin.list_teams(session)}


@routes.post("/admin/teams")
async def create_team(request: web.Request) -> web.Response:
    form, principal, lang, t, refusal = await _form_principal(request)
    if refusal is not None or principal is None:
        assert refusal is not None
        return refusal
    if not principal.viewer.is_admin:
        return web.Response(status=403, text=t.gettext("Teams are created and changed by admins."))
    try:
        async with db(request) as session:
            await agent_admin.add_team(
                session, str(form.get("name", "")), actor_id=principal.agent.id, origin=origin(request)
            )
            await session.commit()
    except AgentError as exc:
        return await _page(request, principal, lang, t, error=str(exc), error_field="team", status=422)
    return redirect(f"{PAGE}?done=team#teams", 303)


@routes.post(r"/admin/teams/{id:\d+}")
async def change_team(request: web.Request) -> web.Response:
    """A team's name and members (the ticked agents: all of them)."""
    team_id = path_id(request)
    form, principal, lang, t, refusal = await _form_principal(request)
    if refusal is not None or principal is None:
        assert refusal is not None
        return refusal
    if not principal.viewer.is_admin:
        return web.Response(status=403, text=t.gettext("Teams are created and changed by admins."))
    members = [int(v) for v in form.getall("member_ids", []) if isinstance(v, str) and v.isdigit()]
    try:
        async with db(request) as session:
            await agent_admin.update_team(
                session,
                team_id,
                name=str(form.get("name", "")),
                member_ids=members,
                actor_id=principal.agent.id,
                origin=origin(request),
            )
            await session.commit()
    except AgentError as exc:
        return await _page(request, principal, lang, t, error=str(exc), error_field="team", status=422)
    except agent_admin.AgentNotFound:
        return web.Response(status=404, text=t.gettext("No such team."))
    hub_of(request).router.wake()
    return redirect(f"{PAGE}?done=team#teams", 303)
