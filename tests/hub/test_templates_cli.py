"""`okno templates import|suggest|search`, run as real subprocesses against the test database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.models import Template
from tests.hub.test_cli import okno, write_json


async def test_import_reports_bad_entries_by_index_and_imports_the_others(
    database_url: str, engine: object, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    entries = [
        {"key": "vip", "title": "VIP", "body": "Скидка 10%, {{ contact.first_name }}.", "tags": ["скидка"]},
        {"key": "evil", "title": "Evil", "body": "{{ cycler.__init__.__globals__ }}"},
        "not an object",
        {"key": "en-vip", "title": "VIP", "body": "10% off", "language": "en", "channels": ["email"]},
        {"title": "No key", "body": "Hi"},
    ]
    path = write_json(tmp_path / "templates.json", entries)
    run = await okno("templates", "import", str(path), database_url=database_url, cwd=tmp_path)
    assert run.code == 1, run.err
    lines = [json.loads(line) for line in run.lines]
    assert [(line["index"], line["key"], line["result"]) for line in lines] == [
        (0, "vip", "created"),
        (3, "en-vip", "created"),
    ]
    errors = [line for line in run.err_lines if line.startswith("entry ")]
    assert errors[0].startswith("entry 1 (evil): body: access to '__globals__' is not allowed")
    assert errors[1] == "entry 2: expected an object with key, title and body, found str"
    assert errors[2] == "entry 4: key is required and must be text"

    entries[0]["title"] = "VIP-клиент"
    path.with_suffix(".yaml").write_text(
        "- {key: vip, title: VIP-клиент, body: 'Скидка 10%, {{ contact.first_name }}.', tags: [скидка]}\n"
        "- {key: en-vip, title: VIP, body: 10% off, language: en, channels: [email]}\n",
        encoding="utf-8",
    )
    again = await okno(
        "templates", "import", str(path.with_suffix(".yaml")), database_url=database_url, cwd=tmp_path
    )
    assert again.code == 0, again.err
    assert [json.loads(line)["result"] for line in again.lines] == ["updated", "unchanged"]
    async with sessionmaker() as session:
        vip = await session.scalar(select(Template).where(Template.key == "vip"))
        assert vip is not None and vip.title == "VIP-клиент"


async def test_suggest_prints_one_line_per_text_best_first(
    database_url: str, engine: object, tmp_path: Path
) -> None:
    texts = ["где мой заказ, жду уже неделю", "I forgot my pasword and cant log in"]
    run = await okno("templates", "suggest", "--limit", "2", *texts, database_url=database_url, cwd=tmp_path)
    assert run.code == 0, run.err
    lines = [json.loads(line) for line in run.lines]
    assert [line["text"] for line in lines] == texts
    assert [line["suggestions"][0]["key"] for line in lines] == ["ru.delivery-status", "en.password-reset"]
    assert all(len(line["suggestions"]) <= 2 for line in lines)
    first = lines[0]["suggestions"]
    assert set(first[0]) == {"key", "title", "score"} and first[0]["score"] >= first[-1]["score"]


async def test_search_ranks_as_the_ui_does(database_url: str, engine: object, tmp_path: Path) -> None:
    run = await okno(
        "templates", "search", "вазврат", "--language", "ru", database_url=database_url, cwd=tmp_path
    )
    assert run.code == 0, run.err
    keys = [json.loads(line)["key"] for line in run.lines]
    assert "ru.returns" in keys[:2]
