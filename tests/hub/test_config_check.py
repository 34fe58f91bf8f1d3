"""The configuration check (hub.config_check): the README's own examples pass it as written (and the web chat
they show answers at any hour), a missing variable is named, and a reload with a mistake is refused."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from channels.webchat import widget_options
from hub.cli import _reload_accounts, describe
from hub.config_check import problems, settings_errors
from hub.runtime import Hub
from hub.settings import load

ROOT = Path(__file__).resolve().parents[2]


def readme_block(containing: str) -> str:
    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    return next(block for block in blocks if containing in block)


def test_the_readme_channel_accounts_pass_the_check_and_its_web_chat_is_open_at_any_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "okno.toml"
    config.write_text(readme_block("[accounts.site]"), encoding="utf-8")
    for var in re.findall(r'_env = "(\w+)"', config.read_text(encoding="utf-8")):
        monkeypatch.setenv(var, "set-by-the-test")
    settings = load(config)
    assert problems(settings) == []
    site = widget_options(settings.accounts["site"].model_extra or {})
    assert (site.hours, site.require_agent_online) == ("always", False)


def test_a_missing_variable_is_named_and_a_disabled_account_is_not_asked_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKNO_TEST_UNSET", raising=False)
    config = tmp_path / "okno.toml"
    config.write_text(
        '[accounts.a]\nkind = "api"\ntoken_env = "OKNO_TEST_UNSET"\n\n'
        '[accounts.b]\nkind = "api"\ntoken_env = "OKNO_TEST_UNSET"\nenabled = false\n',
        encoding="utf-8",
    )
    found = problems(load(config))
    assert [p.line("okno.toml") for p in found] == [
        "okno.toml: [accounts.a] token_env: the environment variable OKNO_TEST_UNSET is not set"
    ]


async def test_a_reload_with_a_mistake_keeps_the_running_configuration(
    hub_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub: Hub = await hub_factory(
        accounts={"shop": {"kind": "api", "token": "t", "callback_url": "https://a.example"}}
    )
    config = tmp_path / "okno.toml"
    config.write_text('[accounts.shop]\nkind = "api"\ntoken = "t"\ncallback_ur = "https://b.example"\n')
    hub.settings.config_file = str(config)
    with caplog.at_level(logging.ERROR, logger="okno"):
        _reload_accounts(hub)  # what SIGHUP runs
    assert [r.getMessage() for r in caplog.records] == [
        f"configuration not reloaded: {config}: [accounts.shop] callback_ur: unknown option "
        "(did you mean callback_url?)"
    ]
    assert hub.accounts["shop"].context.options == {"callback_url": "https://a.example"}


def test_every_mistake_in_the_settings_is_named_and_an_unknown_key_gets_the_one_it_meant(
    tmp_path: Path,
) -> None:
    config = tmp_path / "okno.toml"
    config.write_text(
        '[database]\nurl = "sqlite+aiosqlite:///x.db"\n\n[routing]\nofline_after_minutes = 5\n\n'
        "[routing.teams.Support]\nagent_capasity = 3\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as raised:
        load(config)
    said = settings_errors(raised.value)
    assert "database: unknown key (did you mean database_url?)" in said
    assert "routing.ofline_after_minutes: unknown key (did you mean offline_after_minutes?)" in said
    assert "routing.teams.Support.agent_capasity: unknown key (did you mean agent_capacity?)" in said
    # The command line says all of them at once, on one line.
    line = describe(raised.value)
    assert line.count("unknown key") == 3 and "\n" not in line
