"""The audit page's sign-ins: successes and failures with the IP they came from, one link away."""

from __future__ import annotations

from tests.hub.web.conftest import Client, Person, login


async def test_sign_ins_show_successes_and_failures_with_their_ip(
    client: Client, admin: Person, sales: Person
) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": sales.email, "password": "not the password"}
    )
    assert wrong.status == 401
    await login(client, admin.email)
    page = await (await client.get("/admin/audit?lang=en")).text()
    assert 'href="/admin/audit?action=login"' in page
    html = await (await client.get("/admin/audit?action=login&lang=en")).text()
    rows = html[html.index("<tbody>") : html.index("</tbody>")].split("<tr")[1:]
    assert len(rows) == 2
    assert all("Sign-in" in row and "127.0.0.1" in row for row in rows)
    assert any("Wrong password" in row and "Anna" in row for row in rows)
    assert any("Success" in row and "Admin" in row for row in rows)
