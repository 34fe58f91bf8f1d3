"""/api/v1/auth and /api/v1/me: JSON log-in and log-out, the caller's own API tokens, who am I."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hub import auth
from hub.login import log_in
from hub.web import serialize
from hub.web.audit_trail import login_attempt, record_action
from hub.web.auth import SESSION_COOKIE, authenticate, clear_session_cookie, require_agent, set_session_cookie
from hub.web.context import LOGIN_GUARD, db, hub_of, is_online
from hub.web.errors import ApiError, not_found
from hub.web.inputs import Body, Empty, path_id, read_body

routes = web.RouteTableDef()


class LoginBody(Body):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class TokenBody(Body):
    name: str = Field("", max_length=120)


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    """Check e-mail and password, open a browser session (cookie) and say who logged in.

    Rate-limited (429 with Retry-After, the password unchecked); argon2 runs with no transaction open.
    """
    body = await read_body(request, LoginBody)
    attempt = login_attempt(request, body.email, body.password, "api")
    result = await log_in(hub_of(request).sessionmaker, request.app[LOGIN_GUARD], attempt)
    if result.outcome == "rate_limited":
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many log-in attempts: try again in {result.verdict.retry_after_header} s",
            headers={"Retry-After": result.verdict.retry_after_header},
        )
    if result.agent is None or result.session_token is None or result.web_session is None:
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password")
    agent = result.agent
    payload = {
        "agent": serialize.agent(agent, online=is_online(request, agent.id)),
        "auth": "session",
        "csrf_token": result.web_session.csrf_token,
    }
    response = web.json_response(payload)
    set_session_cookie(request, response, result.session_token)
    return response


@routes.post("/api/v1/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """End the browser session of the cookie (a bearer-token caller has none: nothing to do)."""
    async with db(request) as session:
        principal = await authenticate(request, session)
        if principal is None:
            raise ApiError(401, "unauthorized", "not logged in")
        await read_body(request, Empty)
        cookie = request.cookies.get(SESSION_COOKIE)
        if principal.via == "session" and cookie:
            await auth.end_session(session, cookie)
            await session.commit()
    response = web.Response(status=204)
    if principal.via == "session":
        clear_session_cookie(response)
    return response


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        return web.json_response(
            {
                "agent": serialize.agent(principal.agent, online=is_online(request, principal.agent.id)),
                "auth": principal.via,
                "csrf_token": principal.csrf_token,
            }
        )


@routes.get("/api/v1/auth/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    async with db(request) as session:
        principal = await require_agent(request, session)
        rows = await auth.list_api_tokens(session, principal.agent.id)
        return web.json_response({"items": [serialize.api_token(r) for r in rows]})


@routes.post("/api/v1/auth/tokens")
async def create_token(request: web.Request) -> web.Response:
    """A new API token for the caller; its plain text is in this answer and nowhere else, ever."""
    async with db(request) as session:
        principal = await require_agent(request, session)
        body = await read_body(request, TokenBody)
        token, row = await auth.create_api_token(session, principal.agent.id, body.name.strip())
        record_action(request, session, principal, "token.create", "api_token", row.id, {"name": row.name})
        await session.commit()
        return web.json_response({**serialize.api_token(row), "token": token}, status=201)


@routes.delete(r"/api/v1/auth/tokens/{id:\d+}")
async def revoke_token(request: web.Request) -> web.Response:
    token_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        if not await auth.revoke_api_token(session, principal.agent.id, token_id):
            raise not_found(f"token {token_id} not found")
        record_action(request, session, principal, "token.revoke", "api_token", token_id)
        await session.commit()
    return web.Response(status=204)
