"""The admin's "test connection" of a phone account: an AMI login against the replay server (then Logoff), a
file source's path readable by the hub, and the pushed sources' note — each worded by what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels.base import AccountContext, check_connection
from channels.sip.connector import SipConnector
from tests.channels.email.servers import free_port
from tests.channels.sip.servers import AmiReplay

SECRET = "ami-secret-7"


def sip(secrets: dict[str, str] | None = None, **options: Any) -> AccountContext:
    return AccountContext(id=1, name="pbx", kind="sip", options=options, secrets=secrets or {})


async def checked(account: AccountContext) -> tuple[bool, str]:
    connector = SipConnector(account)
    try:
        found = await check_connection(connector)
    finally:
        await connector.close()
    return found.ok, found.detail


async def test_ami_logs_in_and_a_refused_secret_or_a_closed_port_are_told_apart() -> None:
    replay = AmiReplay([], secret=SECRET)
    await replay.start()
    try:
        ami = {"source": "ami", "host": "127.0.0.1", "port": replay.port, "username": "okno"}
        ok, detail = await checked(sip({"secret": SECRET}, **ami))
        assert (
            ok and detail == f"AMI 127.0.0.1:{replay.port}: logged in as 'okno' (Asterisk Call Manager/5.0.1)"
        )
        ok, detail = await checked(sip({"secret": "wrong-one"}, **ami))
        assert not ok and "AMI login refused: Authentication failed" in detail and "wrong-one" not in detail
        assert replay.logins == [("okno", SECRET), ("okno", "wrong-one")]
    finally:
        await replay.close()
    closed = free_port()
    ok, detail = await checked(sip({"secret": SECRET}, source="ami", port=closed, username="okno"))
    assert not ok and detail.startswith(f"AMI 127.0.0.1:{closed} unreachable: ConnectionRefusedError")


async def test_file_sources_need_a_path_the_hub_can_read(tmp_path: Path) -> None:
    csv = tmp_path / "Master.csv"
    csv.write_text('"","100","200"\n')
    ok, detail = await checked(sip(source="cdr_csv", path=str(csv)))
    assert ok and detail == f"{csv}: a readable file of 15 bytes"
    ok, detail = await checked(sip(source="cdr_csv", path=str(tmp_path / "nope.csv")))
    assert not ok and "does not exist" in detail
    ok, detail = await checked(sip(source="cdr_csv", path=str(tmp_path)))
    assert not ok and "is a directory" in detail
    (tmp_path / "acc_cdrs_1.log").write_text("")
    ok, detail = await checked(sip(source="kamailio_acc", path=str(tmp_path)))
    assert ok and detail == f"{tmp_path}: a readable directory of 2 files"


async def test_pushed_sources_have_nothing_to_connect_to_and_a_bad_option_is_named() -> None:
    ok, detail = await checked(sip({"token": "t"}, source="cti"))
    assert ok and detail == "nothing to connect to: the PBX posts cti to /hooks/pbx/<token>"
    ok, detail = await checked(sip(source="ami", username="okno"))
    assert not ok and "needs username and secret" in detail
