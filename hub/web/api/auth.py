"""/api/v1/auth and /api/v1/me: JSON log-in and log-out, the caller's own API tokens and password,
who am I."""

from __future__ import annotations

import functools

from aiohttp import web
from pydantic import Field

from hub import auth
from hub.login import log_in
from hub.ratelimit import Verdict
from hub.web.api.operations import operation
from hub.web.api.schemas.agents import Agent as AgentOut
from hub.web.api.schemas.agents import ApiTokenList, Me, MyTimezone, NewApiToken
from hub.web.api.schemas.base import respond
from hub.web.audit_trail import client_ip, login_attempt, record_action
from hub.web.auth import (
    SESSION_COOKIE,
    authenticate,
    clear_session_cookie,
    network_allows,
    network_refused,
    require_agent,
    set_session_cookie,
)
from hub.web.context import LOGIN_GUARD, db, hub_of, online_agents
from hub.web.errors import ApiError, not_found, unprocessable
from hub.web.inputs import Body, Empty, path_id, read_body
from hub.web.revocation import Revocation, revoke
from inbox.agents import MIN_PASSWORD, AgentError, hash_password_async, set_timezone, verify_password_async
from inbox.models import Agent

routes = web.RouteTableDef()


class LoginBody(Body):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class TimezoneBody(Body):
    timezone: str | None = Field(
        max_length=64,
        description='an IANA zone name as the browser gives it ("Europe/Moscow"); null: the hub\'s zone '
        "again; an unknown zone is a 422 naming timezone",
    )


class TokenBody(Body):
    name: str = Field("", max_length=120)


def _too_many(verdict: Verdict) -> ApiError:
    wait = verdict.retry_after_header
    message = f"too many log-in attempts: try again in {wait} s"
    return ApiError(429, "too_many_attempts", message, headers={"Retry-After": wait})


@routes.post("/api/v1/auth/login")
@operation(
    "Log in with e-mail and password: sets the session cookie and returns the CSRF token",
    "auth",
    {200: ("logged in", Me)},
    body=LoginBody,
    auth="public",
    errors=(401, 429),
)
async def login(request: web.Request) -> web.Response:
    """Check e-mail and password, open a browser session (cookie) and say who logged in.

    Rate-limited (429 with Retry-After, the password unchecked); argon2 runs with no transaction open.
    """
    body = await read_body(request, LoginBody)
    attempt = login_attempt(request, body.email, body.password, "api")
    allows = functools.partial(network_allows, request)
    result = await log_in(hub_of(request).sessionmaker, request.app[LOGIN_GUARD], attempt, allows)
    if result.outcome == "network_not_allowed":
        raise network_refused()
    if result.outcome == "rate_limited":
        raise _too_many(result.verdict)
    if result.agent is None or result.session_token is None or result.web_session is None:
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password")
    agent = result.agent
    me = Me(
        agent=AgentOut.of(agent, online=agent.id in await online_agents(request)),
        auth="session",
        csrf_token=result.web_session.csrf_token,
    )
    response = respond(me)
    set_session_cookie(request, response, result.session_token)
    return response


@routes.post("/api/v1/auth/logout")
@operation(
    "End the browser session",
    "auth",
    {204: ("logged out", None)},
    body=Empty,
    body_required=False,
    errors=(403,),
)
async def logout(request: web.Request) -> web.Response:
    """End the browser session of the cookie (a bearer-token caller has none: nothing to do)."""
    async with db(request) as session:
        principal = await authenticate(request, session)
        if principal is None:
            raise ApiError(401, "unauthorized", "not logged in")
        await read_body(request, Empty)
        cookie = request.cookies.get(SESSION_COOKIE)
        ended = None
        if principal.via == "session" and cookie:
            ended = await auth.end_session(session, cookie)
            await session.commit()
    if ended is not None:
        await revoke(request, Revocation(principal.agent.id, sessions=frozenset({ended})))
    response = web.Response(status=204)
    if principal.via == "session":
        clear_session_cookie(response)
    return response


@routes.get("/api/v1/me")
@operation("Who am I", "auth", {200: ("OK", Me)})
async def me(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        online = principal.agent.id in await online_agents(request, session)
        return respond(
            Me(
                agent=AgentOut.of(principal.agent, online=online),
                auth=principal.via,
                csrf_token=principal.csrf_token,
            )
        )


@routes.put("/api/v1/me/timezone")
@operation(
    "Set the time zone my pages show times in (null: the hub's business hours' zone)",
    "auth",
    {200: ("OK", MyTimezone)},
    body=TimezoneBody,
    errors=(422,),
)
async def set_my_timezone(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TimezoneBody)
        try:
            zone = await set_timezone(session, principal.agent.id, body.timezone)
        except AgentError as exc:
            raise unprocessable(str(exc), exc.field) from None
        await session.commit()
    effective = zone or hub_of(request).settings.business_hours.timezone
    return respond(MyTimezone(agent_id=principal.agent.id, timezone=zone, effective=effective))


@routes.get("/api/v1/auth/tokens")
@operation("My API tokens (never their values)", "auth", {200: ("OK", ApiTokenList)})
async def list_tokens(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        rows = await auth.list_api_tokens(session, principal.agent.id)
        return respond(ApiTokenList.model_validate({"items": rows}))


@routes.post("/api/v1/auth/tokens")
@operation(
    "Create an API token for myself; its value is shown in this answer only",
    "auth",
    {201: ("created", NewApiToken)},
    body=TokenBody,
    errors=(403,),
)
async def create_token(request: web.Request) -> web.Response:
    """A new API token for the caller; its plain text is in this answer and nowhere else, ever."""
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TokenBody)
        token, row = await auth.create_api_token(session, principal.agent.id, body.name.strip())
        record_action(request, session, principal, "token.create", "api_token", row.id, {"name": row.name})
        await session.commit()
        return respond(NewApiToken.of(row, token), status=201)


@routes.delete(r"/api/v1/auth/tokens/{id:\d+}")
@operation("Revoke one of my API tokens", "auth", {204: ("revoked", None)}, errors=(403, 404))
async def revoke_token(request: web.Request) -> web.Response:
    token_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        if not await auth.revoke_api_token(session, principal.agent.id, token_id):
            raise not_found(f"token {token_id} not found")
        record_action(request, session, principal, "token.revoke", "api_token", token_id)
        await session.commit()
    await revoke(request, Revocation(principal.agent.id, tokens=frozenset({token_id})))
    return web.Response(status=204)


class PasswordChange(Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


@routes.post("/api/v1/me/password")
@operation(
    "Change my password: my other browser sessions and all my API tokens end (403 wrong_password when "
    "current_password is wrong; 429 after too many wrong ones, counted with failed log-ins)",
    "auth",
    {204: ("changed", None)},
    body=PasswordChange,
    errors=(403, 429),
)
async def change_password(request: web.Request) -> web.Response:
    """The caller's own new password: every other session and every API token of theirs ends (the
    browser session that asks stays). argon2 runs between transactions, never inside one."""
    async with db(request) as session:
        principal = await require_agent(request, session)  # ends its read transaction
        body = await read_body(request, PasswordChange)
    agent = principal.agent
    guard, ip = request.app[LOGIN_GUARD], client_ip(request)
    verdict, _ = await guard.admit(agent.email, ip)  # guessing the current password counts as failed log-ins
    if not verdict.allowed:
        raise _too_many(verdict)
    if not await verify_password_async(agent.password_hash, body.current_password):
        raise ApiError(403, "wrong_password", "the current password is wrong", "current_password")
    await guard.succeeded(agent.email, ip)
    password_hash = await hash_password_async(body.new_password)
    keep = principal.web_session.id if principal.web_session is not None else None
    async with db(request) as session:
        row = await session.get(Agent, agent.id)
        if row is None:
            raise not_found("your agent no longer exists")
        row.password_hash = password_hash
        await auth.end_credentials(session, agent.id, keep_session=keep)
        record_action(request, session, principal, "agent.password_change", "agent", agent.id)
        await session.commit()
    await revoke(request, Revocation(agent.id, everything=True, keep_session=keep))
    return web.Response(status=204)
