"""Where the log-in form goes next: only a path of this site, judged raw, percent-decoded and normalised
(no open redirect through tabs, encoded slashes, backslashes or look-alike slashes)."""

from __future__ import annotations

import pytest

from hub.web.ui.pages import safe_next
from tests.hub.web.conftest import Client, Person
from tests.hub.web.ui.test_pages import log_in

NASTY = [
    "/%09/evil.example/",
    "/\t/evil.example/",
    "\t//evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%252F%252Fevil.example",
    "https://evil.example/",
    "https:/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "evil.example",
    " /inbox",
    "/\uff0f/evil.example",  # fullwidth solidus
    "/\u2215\u2215evil.example",  # division slash
    "/\u2044\u2044evil.example",  # fraction slash
    "/\u200b/evil.example",  # zero-width space
    "/%E2%80%8B/evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "/\r\nLocation: https://evil.example",
    "",
]


@pytest.mark.parametrize("value", NASTY)
def test_a_next_that_could_leave_the_site_falls_back_to_the_inbox(value: str) -> None:
    assert safe_next(value) == "/inbox"


@pytest.mark.parametrize(
    "value", ["/inbox", "/inbox?status=open&c=5", "/inbox/c/3#m", "/inbox?q=%D0%98%D1%80"]
)
def test_a_path_of_this_site_is_followed(value: str) -> None:
    assert safe_next(value) == value


async def test_the_log_in_form_does_not_redirect_to_a_tab_smuggled_host(
    client: Client, sales: Person
) -> None:
    assert await log_in(client, sales.email, next_path="/%09/evil.example/") == "/inbox"
    client.session.cookie_jar.clear()
    assert await log_in(client, sales.email, next_path="/\t/evil.example/") == "/inbox"
