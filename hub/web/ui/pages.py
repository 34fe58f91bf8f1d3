"""Server-rendered pages: /, the log-in form and log-out; rendering and language helpers for every page
(the inbox is in :mod:`hub.web.ui.inbox`).

The log-in form is protected against login CSRF by a double-submit token: GET /login sets a random
pre-session cookie and puts the same value in a hidden field; POST /login accepts the form only if the
two match (another site can make a browser post a form, but cannot read or set our cookie). Templates
are rendered with autoescaping on.
"""

from __future__ import annotations

import functools
import hmac
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hub import auth
from hub import i18n as hub_i18n
from hub.login import log_in
from hub.settings import ROOT
from hub.web.audit_trail import login_attempt
from hub.web.auth import (
    SESSION_COOKIE,
    Principal,
    authenticate,
    clear_session_cookie,
    is_secure,
    network_allows,
    set_session_cookie,
)
from hub.web.context import LOGIN_GUARD, TEMPLATES, db, hub_of
from hub.web.errors import ApiError
from hub.web.revocation import Revocation, revoke
from hub.web.ui import i18n
from inbox.models import Agent

routes = web.RouteTableDef()

TEMPLATE_DIR = ROOT / "templates"
LOGIN_CSRF_COOKIE = "okno_login_csrf"
LANGUAGE_COOKIE = "okno_lang"


def templates(directory: Path = TEMPLATE_DIR) -> dict[str, jinja2.Environment]:
    """One Jinja environment per language, each with that language's gettext installed: ``{{ _("…") }}``,
    ``pgettext`` and ``ngettext`` (new style: ``%(num)d`` filled in, values escaped). One per language
    rather than translations swapped per request, so two pages rendered at once never share them."""
    environments = {}
    for lang in i18n.LANGUAGES:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(hub_i18n.translation(lang), newstyle=True)  # type: ignore[attr-defined]
        env.globals["gettext"] = _kept_gettext(env.globals["gettext"])
        env.globals["texts"] = i18n.Texts(lang)
        environments[lang] = env
    return environments


def _kept_gettext(gettext: Any) -> Any:
    """The environment's ``_()`` (newstyle: escaped, then formatted with its values) with the text of a
    call without values kept: an environment's language never changes, and the /inbox page alone asks for
    some sixty fixed strings on every request (a quarter of its template's time)."""
    kept: dict[tuple[str, bool], Any] = {}  # Markup where the page escapes

    @jinja2.pass_context
    def kept_gettext(context: jinja2.runtime.Context, string: str, /, **variables: Any) -> Any:
        if variables:
            return gettext(context, string, **variables)
        key = (string, context.eval_ctx.autoescape)
        text = kept.get(key)
        if text is None:
            text = gettext(context, string)
            if len(kept) < 4096:  # the templates' literals (a computed string would not be worth keeping)
                kept[key] = text
        return text

    return kept_gettext


def render(request: web.Request, name: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    """Render `name` in the language of ``context["lang"]``."""
    environment = request.app[TEMPLATES][context.get("lang", i18n.DEFAULT)]
    html = environment.get_template(name).render(**context)
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def page_principal(
    request: web.Request, session: AsyncSession, csrf: str | None = None
) -> Principal | None:
    """Who is asking for a page (None: nobody signed in, or a form's CSRF token is wrong: the page
    sends them to log in); a refused network is still an error of its own."""
    try:
        return await authenticate(request, session, csrf=csrf)
    except ApiError as exc:
        if exc.code == "network_not_allowed":
            raise
        return None


def redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


def language(request: web.Request, agent: Agent | None = None) -> str:
    """?lang= (the switch on a page), then the switch remembered in a cookie, the agent's own setting,
    the browser's Accept-Language, the hub's ``[ui] language``."""
    explicit = request.query.get("lang")
    if explicit not in i18n.LANGUAGES:
        explicit = request.cookies.get(LANGUAGE_COOKIE)
    return i18n.choose(
        request.headers.get("Accept-Language"),
        explicit=explicit,
        preferred=agent.language if agent else None,
        default=hub_of(request).settings.ui.language,
    )


def remember_language(request: web.Request, response: web.StreamResponse) -> None:
    """A language chosen with ?lang= stays chosen on the next pages (a year, this browser)."""
    chosen = request.query.get("lang")
    if chosen in i18n.LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=365 * 86400, path="/", samesite="Lax", secure=is_secure(request)
        )


def safe_next(value: str | None, default: str = "/inbox") -> str:
    """Where to go after logging in: a path on this site only (no open redirect), else `default`.

    The value is judged as given, percent-decoded (repeatedly) and NFKC-normalised (a fullwidth
    solidus becomes ``/``): each form must start with a single ``/``, hold no backslash, control
    character or whitespace, and parse with no scheme, no host and an ASCII path (this site's paths
    are ASCII; other slash look-alikes are refused).
    """
    if not value or len(value) > 2000:
        return default
    forms = [value]
    decoded = value
    for _ in range(3):
        decoded = unquote(decoded)
        forms.append(decoded)
    forms.append(unicodedata.normalize("NFKC", decoded))
    for form in forms:
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return default
        if any(c.isspace() or unicodedata.category(c)[0] in "CZ" for c in form):
            return default
        parts = urlsplit(form)
        if parts.scheme or parts.netloc or not parts.path.isascii():  # no look-alike slashes
            return default
    return value


async def _principal(request: web.Request, *, csrf: str | None = None) -> Principal | None:
    async with db(request) as session:
        try:
            return await authenticate(request, session, csrf=csrf)
        except ApiError as exc:  # a bad bearer token or CSRF token on a page: treat as not logged in
            if exc.code == "network_not_allowed":
                raise
            return None


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return redirect("/inbox" if await _principal(request) else "/login", 302)


def _login_page(
    request: web.Request,
    form_token: str,
    *,
    error: str | None = None,
    email: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    lang = language(request)
    response = render(
        request,
        "web/login.html",
        {
            "lang": lang,
            "csrf_token": None,
            "form_token": form_token,
            "error": error,
            "email": email,
            "next": safe_next(request.query.get("next")) if request.query.get("next") else None,
        },
        status=status,
    )
    response.headers.update(headers or {})
    response.set_cookie(
        LOGIN_CSRF_COOKIE, form_token, path="/login", httponly=True, samesite="Lax", secure=is_secure(request)
    )
    remember_language(request, response)
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    if await _principal(request):
        return redirect("/inbox", 302)
    return _login_page(request, request.cookies.get(LOGIN_CSRF_COOKIE) or auth.new_secret())


@routes.post("/login")
async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    t = i18n.Texts(language(request))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get("csrf_token", ""))
    email = str(form.get("email", "")).strip()[:254]
    password = str(form.get("password", ""))[:1024]
    if not cookie or not hmac.compare_digest(given.encode(), cookie.encode()):
        return _login_page(
            request,
            auth.new_secret(),
            error=t.gettext("The form has expired. Please try again."),
            email=email,
            status=403,
        )
    if "\x00" in email + password:  # no database stores it; no agent has it
        return _login_page(
            request, cookie, error=t.gettext("Wrong e-mail or password."), email="", status=401
        )
    if not email or not password:
        return _login_page(
            request, cookie, error=t.gettext("Enter your e-mail and password."), email=email, status=400
        )
    attempt = login_attempt(request, email, password, "form")
    allows = functools.partial(network_allows, request)
    result = await log_in(hub_of(request).sessionmaker, request.app[LOGIN_GUARD], attempt, allows)
    if result.outcome == "network_not_allowed":
        return _login_page(
            request,
            cookie,
            error=t.gettext("Your role may not log in from this network address."),
            email=email,
            status=403,
        )
    if result.outcome == "rate_limited":
        wait = result.verdict.retry_after_header
        return _login_page(
            request,
            cookie,
            error=t.ngettext(
                "Too many sign-in attempts. Try again in %(num)d second.",
                "Too many sign-in attempts. Try again in %(num)d seconds.",
                int(wait),
            ),
            email=email,
            status=429,
            headers={"Retry-After": wait},
        )
    token = result.session_token
    if token is None:
        return _login_page(
            request, cookie, error=t.gettext("Wrong e-mail or password."), email=email, status=401
        )
    response = redirect(safe_next(str(form.get("next", "")) or None))
    set_session_cookie(request, response, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    form = await request.post()
    principal = await _principal(request, csrf=str(form.get("csrf_token", "")))
    response = redirect("/login")
    cookie = request.cookies.get(SESSION_COOKIE)
    if principal is not None and principal.via == "session" and cookie:
        async with db(request) as session:
            ended = await auth.end_session(session, cookie)
            await session.commit()
        if ended is not None:
            await revoke(request, Revocation(principal.agent.id, sessions=frozenset({ended})))
        clear_session_cookie(response)
    return response
