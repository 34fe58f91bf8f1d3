"""The pages: redirects, the CSRF-protected log-in form in Russian and English, the inbox, log-out."""

from __future__ import annotations

import re

from hub.runtime import Hub
from tests.hub.web.conftest import PASSWORD, Client, Person, hand_in, make_agent


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_root_redirects_to_login_then_to_inbox(client: Client, sales: Person) -> None:
    response = await client.get("/", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (302, "/login")
    await log_in(client, sales.email)
    response = await client.get("/", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (302, "/inbox")


async def test_login_page_speaks_russian_by_default_and_english_when_asked(client: Client) -> None:
    russian = await client.get("/login")
    assert russian.status == 200
    html = await russian.text()
    assert '<html lang="ru">' in html and "Войти" in html
    assert "frame-ancestors 'none'" in russian.headers["Content-Security-Policy"]
    english = await (
        await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"})
    ).text()
    assert '<html lang="en">' in english and "Sign in" in english
    assert "Sign in" in await (await client.get("/login?lang=en")).text()
    german = await (await client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})).text()
    assert '<html lang="en">' in german


async def log_in(client: Client, email: str, password: str = PASSWORD, *, next_path: str = "") -> str:
    """Log in through the form; returns where it redirected."""
    token = form_token(await (await client.get("/login")).text())
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_path},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def test_form_login_sets_the_session_and_lands_in_the_inbox(client: Client, sales: Person) -> None:
    assert await log_in(client, sales.email) == "/inbox"
    me = await (await client.get("/api/v1/me")).json()
    assert me["agent"]["id"] == sales.id


async def test_form_login_without_the_pre_session_token_is_refused(client: Client, sales: Person) -> None:
    # a cross-site form: no pre-session cookie, or a token that does not match it
    response = await client.post(
        "/login", data={"email": sales.email, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status == 403
    assert "Форма устарела" in await response.text()
    token = form_token(await (await client.get("/login")).text())
    response = await client.post(
        "/login", data={"email": sales.email, "password": PASSWORD, "csrf_token": token + "x"}
    )
    assert response.status == 403
    assert (await client.get("/api/v1/me")).status == 401


async def test_wrong_password_shows_the_form_again_with_the_email_escaped(
    client: Client, sales: Person
) -> None:
    token = form_token(await (await client.get("/login?lang=en")).text())
    response = await client.post(
        "/login?lang=en",
        data={"email": '"><script>alert(1)</script>', "password": "nope", "csrf_token": token},
    )
    assert response.status == 401
    html = await response.text()
    assert "Wrong e-mail or password." in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


async def test_next_is_followed_only_on_this_site(client: Client, sales: Person) -> None:
    assert await log_in(client, sales.email, next_path="https://evil.example.com/") == "/inbox"
    client.session.cookie_jar.clear()
    assert await log_in(client, sales.email, next_path="//evil.example.com/") == "/inbox"
    client.session.cookie_jar.clear()
    assert await log_in(client, sales.email, next_path="/inbox?x=1") == "/inbox?x=1"


async def test_inbox_lists_visible_open_conversations_escaped(
    client: Client, hub: Hub, sales: Person
) -> None:
    assert (await client.get("/inbox", allow_redirects=False)).headers["Location"] == "/login?next=/inbox"
    await hand_in(client, "s-1", account="shop", name="<b>Ирина</b>", email="irina@example.com")
    await hand_in(client, "d-1", account="depot", name="Оптовик", email="opt@example.com")
    await log_in(client, sales.email)
    response = await client.get("/inbox")
    html = await response.text()
    assert response.status == 200
    assert "&lt;b&gt;Ирина&lt;/b&gt;" in html and "<b>Ирина</b>" not in html
    assert "Оптовик" not in html  # another team's
    assert "Открытые диалоги" in html


async def test_inbox_follows_the_agents_language(client: Client, hub: Hub) -> None:
    english = await make_agent(hub, "emma@okno.example.com", language="en", teams=("Sales",))
    await log_in(client, english.email)
    assert "Open conversations" in await (await client.get("/inbox")).text()


async def test_logout_form_needs_the_csrf_token(client: Client, sales: Person) -> None:
    await log_in(client, sales.email)
    html = await (await client.get("/inbox")).text()
    token = form_token(html)
    # without the token: not logged out
    response = await client.post("/logout", data={}, allow_redirects=False)
    assert response.status == 303
    assert (await client.get("/api/v1/me")).status == 200
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/login")
    assert (await client.get("/api/v1/me")).status == 401


def test_a_kept_fixed_string_is_the_same_translated_and_escaped_text_on_every_render() -> None:
    """The environments keep the text of ``_()`` without values (hub.web.ui.pages._kept_gettext): a second
    render, in each language, gives the same page; a string with values is still formatted (and its values
    escaped) anew each time, and an autoescape-off block is not given the escaped text."""
    from hub.web.ui.pages import templates

    source = (
        '{{ _("Sign out") }}|{{ _("Guest #%(id)d", id=7) }}|{{ _("%(name)s: %(text)s", name="<b>", text=n) }}'
        '{% autoescape false %}|{{ _("%(name)s: %(text)s", name="<i>", text="&") }}{% endautoescape %}'
    )
    pages = {
        lang: [env.from_string(source).render(n=n) for n in ("1", "<2>", "1")]
        for lang, env in templates().items()
    }
    assert pages["en"][0] == "Sign out|Guest #7|&lt;b&gt;: 1|<i>: &"
    assert pages["en"][1] == "Sign out|Guest #7|&lt;b&gt;: &lt;2&gt;|<i>: &"
    assert pages["ru"][0].startswith("Выйти|")
    for rendered in pages.values():
        assert rendered[0] == rendered[2]
