"""The OpenAPI document says what the server does: a bounded schemathesis run against a real hub.

The app of the test hub is served on a free port of 127.0.0.1 (nothing else is ever reached) and the
schemathesis CLI runs every operation of the served document against it — examples from the schema
(positive) and ones that break it (negative), the coverage phase's boundaries and the stateful phase —
once as an admin and once as a plain agent of one team, each with its own bearer token. Every check
must pass: no 5xx, answers (status, content type, headers, body) as documented, schema-valid input
accepted and invalid input refused with a 4xx.

Bounds (about a minute per role on two loaded cores): a few dozen examples per operation, a fixed
generation (deterministic, so a failure is the same on every run), no deadline, and no "too slow"
health check (it times data generation: on a loaded machine it failed runs that found nothing wrong).

What the run is told, and why:
- 429 (a rate limit) and 422 count as accepting valid input. 422 is the documented answer to a body
  that has the right shape but breaks a rule of the domain the schema cannot state (an agent id that
  does not exist, a team name that is taken, an e-mail address the validator refuses).
- 413 counts as refusing invalid input: a negative case may break a length limit by so much that the
  body passes the server's documented body limit (``max_body_bytes``), refused before it is parsed.
- No NUL characters and no lone surrogates are generated: the document says text takes no NUL
  (``pattern``), and a lone surrogate is no Unicode text at all; the server refuses both with a 400
  (pinned in test_errors.py) even where the schema has no room to say so (inside ``custom_fields``).
- ``GET /api/v1/ws`` is not run: it is a WebSocket upgrade (tests/hub/web/api/test_ws.py), not a request.
- Operations that would end the run's own access get fixed ids: ``DELETE /api/v1/auth/tokens/{id}``
  revokes a spare token of the caller (not the run's), ``PATCH /api/v1/agents/{id}`` changes a spare
  agent (not the caller: a new password or role would end its tokens). ``POST /api/v1/auth/logout``
  runs as it is: a bearer-token caller has no session to end.
- ``POST /api/v1/channels/{account}/messages`` is sent to the "shop" account with that account's token.

It runs once per CI, in the PostgreSQL pass: the document is the same on both backends, PostgreSQL is the
stricter engine (integer ranges, text it refuses), and the run is the suite's longest test (minutes; ten
under load), which CI's time cannot pay twice. ``OKNO_TEST_EVERYTHING=1`` runs it on SQLite as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from hub import auth
from hub.runtime import Hub
from hub.web import create_app
from tests.conftest import postgresql_url
from tests.hub.web.conftest import TOKENS, Client, Person, hand_in, make_agent
from tests.waiting import WAIT_CEILING, resolved

pytestmark = pytest.mark.skipif(
    postgresql_url() is None and os.environ.get("OKNO_TEST_EVERYTHING") != "1",
    reason="the contract run goes once per CI, in the PostgreSQL pass (OKNO_TEST_EVERYTHING=1 runs it here)",
)

# Per role: examples per operation and phase, and the phases run (the admin reaches every operation;
# the agent's run is mostly about refusals, so it skips the long coverage phase).
RUNS = {"admin": (15, "examples,coverage,fuzzing,stateful"), "agent": (10, "examples,fuzzing,stateful")}
# A run takes a minute or two on a quiet machine and ten times that with both cores busy (the hub under test
# shares the process and the cores): the ceiling only stops a hung run (each request has its own 60 s).
CEILING_SECONDS = max(WAIT_CEILING, 1800)
CHECKS = "all"


def config(base_url: str, person: Person, examples: int, *, spare_agent: int, spare_token: int) -> str:
    """schemathesis.toml for one run (TOML: JSON strings and numbers are valid TOML values)."""
    q = json.dumps
    return f"""
base-url = {q(base_url)}
headers = {{ Authorization = {q("Bearer " + person.token)} }}
request-timeout = 60
suppress-health-check = ["too_slow"]

[generation]
max-examples = {examples}
deterministic = true
allow-x00 = false
codec = "utf-8"
database = "none"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[checks.negative_data_rejection]
# schemathesis' own list, with 413
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
                     "5xx"]

[[operations]]
include-path = "/api/v1/auth/tokens/{{id}}"
parameters = {{ "path.id" = {spare_token} }}

[[operations]]
include-path = "/api/v1/agents/{{id}}"
parameters = {{ "path.id" = {spare_agent} }}

[[operations]]
include-path = "/api/v1/channels/{{account}}/messages"
parameters = {{ "path.account" = "shop" }}
headers = {{ Authorization = {q("Bearer " + TOKENS["shop"])} }}
"""


def readable(output: str) -> str:
    """The run's report with generated filler cut short (a 17,000-character string hid the failure's name
    from the message's tail once): runs of one character and very long lines shortened, the end kept."""
    output = re.sub(r"(.)\1{80,}", lambda m: f"{m.group(1) * 8}…[{len(m.group(0))}×]", output)
    lines = [ln if len(ln) < 2_000 else ln[:1_000] + " … " + ln[-500:] for ln in output.splitlines()]
    return "\n".join(lines)[-20_000:]


async def schemathesis(base_url: str, workdir: Path, toml: str, phases: str) -> tuple[int, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "schemathesis.toml").write_text(toml)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--checks",
        CHECKS,
        "--exclude-path",
        "/api/v1/ws",
        "--phases",
        phases,
        "--continue-on-failure",
        "--workers",
        "1",
        "--no-color",
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await resolved(process.communicate(), "the schemathesis run", ceiling=CEILING_SECONDS)
    except AssertionError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, output.decode(errors="replace")


async def seed(client: Client, hub: Hub, admin: Person) -> dict[str, Any]:
    """Something to read and change: conversations of both teams, a duplicate pair, a task."""
    first = await hand_in(client, "st-1", email="irina@example.com", phone="+79139097332")
    await hand_in(client, "st-2", account="depot", email="oleg@example.com")
    await hand_in(client, "st-3", email="irina.p@example.com", phone="89139097332")  # a duplicate
    response = await client.post(
        "/api/v1/tasks",
        json={"title": "Перезвонить", "conversation_id": first["conversation_id"]},
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    return first


async def spare_token(hub: Hub, person: Person) -> int:
    async with hub.sessionmaker() as session:
        _, row = await auth.create_api_token(session, person.id, "spare")
        await session.commit()
        return row.id


async def test_the_server_does_what_the_openapi_document_says(
    client: Client, hub: Hub, admin: Person, sales: Person, tmp_path: Path
) -> None:
    await seed(client, hub, admin)
    spare = await make_agent(hub, "spare@okno.example.com", teams=("Sales",))
    runner = web.AppRunner(create_app(hub, manage_hub=False), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        base_url = f"http://127.0.0.1:{port}"
        for person in (admin, sales):
            examples, phases = RUNS[person.role]
            toml = config(
                base_url, person, examples, spare_agent=spare.id, spare_token=await spare_token(hub, person)
            )
            code, output = await schemathesis(base_url, tmp_path / person.role, toml, phases)
            assert code == 0, f"schemathesis as {person.role} ({person.email}):\n{readable(output)}"
            assert "Tested:" in output, output[-5_000:]
    finally:
        await runner.cleanup()
