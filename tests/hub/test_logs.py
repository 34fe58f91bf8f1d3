"""JSON logs (``[log] format = "json"``): one object per line with the request and item ids of the work the
line is about; the access log's line carries the request's id and stays redacted; a bad format is a
named configuration error."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from channels.api.parse import parse
from hub.config_check import settings_errors
from hub.logs import ITEM_ID, REQUEST_ID, JsonFormatter, bound
from hub.runtime import Hub
from hub.settings import load
from hub.web import create_app
from hub.web.access_log import RUNNER_OPTIONS
from inbox.ingest import IngestError


class JsonLines(logging.Handler):
    """What `okno --config` with ``[log] format = "json"`` writes, kept as parsed objects."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_json_line_has_the_ids_that_are_bound_and_the_traceback(json_lines: JsonLines) -> None:
    log = logging.getLogger("okno.test")
    with bound(REQUEST_ID, "req-1"), bound(ITEM_ID, "in-1"):
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("it failed: %s", "ß")
    log.info("after")
    failed, after = json_lines.lines[-2:]
    assert failed["message"] == "it failed: ß"
    assert (failed["level"], failed["logger"]) == ("ERROR", "okno.test")
    assert (failed["request_id"], failed["item_id"]) == ("req-1", "in-1")
    assert "ValueError: broken" in failed["exception"]
    assert failed["time"].endswith("+00:00")
    assert "request_id" not in after and "item_id" not in after


async def test_the_access_log_line_carries_the_request_id_and_no_secret(
    hub_factory: Callable[..., Awaitable[Hub]], json_lines: JsonLines
) -> None:
    hub = await hub_factory()
    server = TestServer(create_app(hub, manage_hub=False))
    await server.start_server(**RUNNER_OPTIONS)  # as `okno run` serves the app
    async with TestClient(server) as client:
        response = await client.get("/healthz?token=s3cret-value", headers={"X-Request-Id": "abc-123"})
        assert response.headers["X-Request-Id"] == "abc-123"
        weird = await client.get("/healthz", headers={"X-Request-Id": "no spaces\tor tabs"})
        assert weird.headers["X-Request-Id"] != "no spaces\tor tabs"  # replaced by a new id
    access = [line for line in json_lines.lines if line["logger"] == "aiohttp.access"]
    mine = next(line for line in access if "/healthz?token=" in line["message"])
    assert mine["request_id"] == "abc-123"
    assert "token=***" in mine["message"]
    assert all("s3cret" not in json.dumps(line) for line in json_lines.lines)


async def test_an_item_handed_in_is_logged_under_its_item_id(
    hub_factory: Callable[..., Awaitable[Hub]], json_lines: JsonLines
) -> None:
    hub = await hub_factory()
    item = parse(
        {"external_id": "x-1", "sender": {"email": "a@example.com"}, "text": "hi"},
        account_id=999_999,  # no such account: the inbox refuses it
        account_name="gone",
    )
    with bound(REQUEST_ID, "req-7"), pytest.raises(IngestError):
        await hub.ingest.submit(item)
    line = next(
        line for line in json_lines.lines if line["message"] == "ingest of a message failed: IngestError"
    )
    assert line["item_id"].startswith("in-")
    assert line["request_id"] == "req-7"


def test_an_unknown_log_format_is_a_named_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "okno.toml"
    config.write_text('[log]\nformat = "xml"\nformt = "json"\n', encoding="utf-8")
    with pytest.raises(ValidationError) as raised:
        load(config)
    lines = settings_errors(raised.value)
    assert any(line.startswith("log.format: ") for line in lines), lines
    assert any(line.startswith("log.formt: unknown key") for line in lines), lines
    assert load(log={"format": "json"}).log.format == "json"
