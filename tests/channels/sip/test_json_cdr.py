"""FreeSWITCH mod_json_cdr: the captured CDR POSTed the three ways the module can encode it."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import PayloadError
from channels.sip import json_cdr
from channels.sip.common import ParseContext
from hub.runtime import Hub
from inbox.models import Call, QuarantineItem, Task
from tests.channels.sip.conftest import HookClient, running_connector
from tests.conftest import shared_fixture_dir

TOKEN = "fs-cdr-token"
CTX = ParseContext(account_id=1)


def captured() -> bytes:
    return (shared_fixture_dir("telephony") / "freeswitch_json_cdr.json").read_bytes()


def values_encoded(document: dict[str, Any]) -> dict[str, Any]:
    """What ``encode-values`` (the module's default) does: every variable URL-encoded."""
    encoded = copy.deepcopy(document)
    encoded["variables"] = {k: quote(str(v), safe="") for k, v in document["variables"].items()}
    return encoded


def test_captured_cdr_is_one_answered_internal_call() -> None:
    call = json_cdr.parse(json.loads(captured()), CTX)
    assert (call.call_id, call.event_id) == (
        "3da8bf84-c133-4959-9e24-e72875cb33a1",
        "fs:3da8bf84-c133-4959-9e24-e72875cb33a1",
    )
    assert (call.direction, call.from_number, call.to_number, call.extension) == (
        "internal",
        "1001",
        "1002",
        "1002",
    )
    assert (call.disposition, call.wait_seconds, call.talk_seconds) == ("answered", 3, 68)
    assert call.started_at == datetime(2018, 1, 11, 10, 25, 44, 534355, tzinfo=UTC)
    assert call.ended_at == datetime(2018, 1, 11, 10, 26, 55, 494269, tzinfo=UTC)
    assert call.meta["hangup_cause"] == "NORMAL_CLEARING" and call.meta["leg"] == "a"


def test_unanswered_inbound_leg_and_its_b_leg_merge_on_the_a_leg() -> None:
    document = json.loads(captured())
    variables = document["variables"]
    for name in ("answer_epoch", "answer_uepoch"):
        variables[name] = "0"
    variables.update(hangup_cause="NO_ANSWER", billsec="0", sip_from_user="89139097332")
    document["callflow"][0]["caller_profile"]["caller_id_number"] = "89139097332"
    document["callflow"][0]["caller_profile"]["destination_number"] = "74951234567"
    a_leg = json_cdr.parse(document, CTX)
    assert (a_leg.direction, a_leg.did, a_leg.disposition, a_leg.extension) == (
        "inbound",
        "74951234567",
        "missed",
        "1002",
    )
    b_doc = copy.deepcopy(document)
    b_doc["variables"].update(uuid="f52c26f1-b018-4963-bf6d-a3111d1a0320", originating_leg_uuid=a_leg.call_id)
    b_leg = json_cdr.parse(b_doc, CTX)
    assert b_leg.call_id == a_leg.call_id and b_leg.event_id != a_leg.event_id and b_leg.meta["leg"] == "b"


def test_busy_cause_is_busy() -> None:
    document = json.loads(captured())
    document["variables"].update(answer_epoch="0", answer_uepoch="0", hangup_cause="USER_BUSY")
    assert json_cdr.parse(document, CTX).disposition == "busy"


@pytest.mark.parametrize(
    "encoding",
    ["json", "form", "base64"],
)
async def test_posted_cdr_is_stored_once_whatever_the_encoding(
    encoding: str, sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    hub: Hub = await hub_factory(accounts={"fs": {"kind": "sip", "source": "json_cdr", "token": TOKEN}})
    client = await hooks(hub)
    await running_connector(hub, "fs")
    text = json.dumps(values_encoded(json.loads(captured())), separators=(",", ":"))
    if encoding == "json":
        body, content_type = text.encode(), "application/json"
    elif encoding == "form":
        body, content_type = f"cdr={quote(text, safe='')}".encode(), "application/x-www-form-urlencoded"
    else:
        body, content_type = (
            f"cdr={base64.b64encode(text.encode()).decode()}".encode(),
            ("application/x-www-form-base64-encoded"),
        )
    url = f"/hooks/fs/{TOKEN}?uuid=3da8bf84-c133-4959-9e24-e72875cb33a1"
    first = await client.post(url, data=body, headers={"Content-Type": content_type})
    again = await client.post(url, data=body, headers={"Content-Type": content_type})
    assert (first.status, again.status) == (200, 200)
    async with sessionmaker() as session:
        calls = list(await session.scalars(select(Call)))
    assert len(calls) == 1
    call = calls[0]
    assert (call.direction, call.from_number, call.to_number, call.disposition) == (
        "internal",
        "1001",
        "1002",
        "answered",
    )
    assert (call.wait_seconds, call.talk_seconds) == (3, 68)


async def test_basic_auth_credentials_stand_for_the_path_token(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    """mod_json_cdr's ``cred`` parameter sends HTTP basic auth; the password is the token."""
    hub: Hub = await hub_factory(accounts={"fs": {"kind": "sip", "source": "json_cdr", "token": TOKEN}})
    client = await hooks(hub)
    await running_connector(hub, "fs")

    def basic(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"freeswitch:{password}".encode()).decode()}

    wrong = await client.post("/hooks/fs", data=captured(), headers=basic("guess"))
    right = await client.post("/hooks/fs", data=captured(), headers=basic(TOKEN))
    assert (wrong.status, right.status) == (403, 200)
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == 1


async def test_a_status_callback_of_another_kind_is_refused_with_a_reason_and_kept_in_the_quarantine(
    sessionmaker: async_sessionmaker[AsyncSession], hub_factory: Any, hooks: HookClient
) -> None:
    hub: Hub = await hub_factory(accounts={"fs": {"kind": "sip", "source": "json_cdr", "token": TOKEN}})
    client = await hooks(hub)
    await running_connector(hub, "fs")
    telnyx = (shared_fixture_dir("telephony") / "telnyx_texml_status_callback_completed.json").read_bytes()
    response = await client.post(
        f"/hooks/fs/{TOKEN}", data=telnyx, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert "not a FreeSWITCH mod_json_cdr document" in error and "kept in the quarantine as #" in error
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == 0
        assert await session.scalar(select(func.count()).select_from(Task)) == 0
        kept = await session.scalar(select(QuarantineItem))
    assert kept is not None and kept.size == len(telnyx) and "mod_json_cdr" in kept.reason


def test_garbage_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not valid JSON"):
        json_cdr.decode_body(b"{oops", "application/json")
    with pytest.raises(PayloadError, match="variables"):
        json_cdr.parse({"core-uuid": "x"}, CTX)
