"""Settings: defaults file, user file, environment, secrets by indirection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.runtime import split_account
from hub.settings import load


def test_defaults_need_no_service() -> None:
    settings = load()
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.default_region == "RU"
    assert settings.policy().business_hours.timezone == "Europe/Moscow"


def test_user_file_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "okno.toml"
    config.write_text('port = 9000\ndefault_region = "KZ"\n[outbox]\nmax_attempts = 4\n', encoding="utf-8")
    monkeypatch.setenv("OKNO_PORT", "9100")
    monkeypatch.setenv("OKNO_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    settings = load(config)
    assert (settings.port, settings.default_region, settings.outbox.max_attempts) == (9100, "KZ", 4)
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


def test_secrets_come_from_the_environment_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "okno.toml"
    config.write_text(
        '[accounts.shop]\nkind = "api"\ntoken_env = "SHOP_TOKEN"\ncallback_url = "http://x/y"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SHOP_TOKEN", "s3cret")
    options, secrets, problem = split_account(load(config).accounts["shop"])
    assert secrets == {"token": "s3cret"} and problem is None
    assert options == {"callback_url": "http://x/y"}
    monkeypatch.delenv("SHOP_TOKEN")
    _, secrets, problem = split_account(load(config).accounts["shop"])
    assert secrets == {} and problem == "environment variable SHOP_TOKEN (for token) is not set"


def test_bad_values_are_refused_with_their_name(tmp_path: Path) -> None:
    config = tmp_path / "okno.toml"
    config.write_text('[accounts."Bad Name"]\nkind = "api"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="Bad Name"):
        load(config)
    config.write_text('[business_hours]\nmon = "18:00-09:00"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="ends before it starts"):
        load(config)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load(tmp_path / "nope.toml")


def test_allowed_networks_are_read_from_the_security_table(tmp_path: Path) -> None:
    config = tmp_path / "okno.toml"
    config.write_text(
        '[security]\nallowed_networks = { admin = ["10.0.0.0/8", "2001:db8::/32"], agent = [] }\n',
        encoding="utf-8",
    )
    security = load(config).security
    assert [str(n) for n in security.networks("admin")] == ["10.0.0.0/8", "2001:db8::/32"]
    assert security.networks("agent") == () and security.networks("supervisor") == ()


@pytest.mark.parametrize(
    ("networks", "named"),
    [
        ({"admin": ["10.0.0.300/8"]}, "security.allowed_networks.admin: '10.0.0.300/8'"),
        ({"agent": ["office"]}, "security.allowed_networks.agent: 'office'"),
        ({"owner": ["10.0.0.0/8"]}, "security.allowed_networks.owner: not a role"),
    ],
)
def test_a_wrong_allowed_network_is_refused_at_load_naming_the_key(
    networks: dict[str, list[str]], named: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        load(security={"allowed_networks": networks})
    assert named in str(caught.value)


def test_the_ui_language_is_checked_by_name_and_handed_to_the_domain(tmp_path: Path) -> None:
    assert load().policy().gettext("Call back: %(number)s") == "Перезвонить: %(number)s"  # ru by default
    config = tmp_path / "okno.toml"
    config.write_text('[ui]\nlanguage = "en"\n', encoding="utf-8")
    assert load(config).policy().gettext("Call back: %(number)s") == "Call back: %(number)s"
    config.write_text('[ui]\nlanguage = "de"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"ui\.language"):
        load(config)


def test_a_team_section_with_an_unknown_key_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "okno.toml"
    config.write_text('[sla.teams."VIP"]\nfirst_response_minuts = 15\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"sla\.teams\.VIP\.first_response_minuts"):
        load(config)
    config.write_text('[business_hours.teams."Night"]\nmon = "23:00-01:00"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"business_hours\.teams\.Night: .*ends before it starts"):
        load(config)


def test_cluster_and_outbox_lease_settings_are_read_and_a_mistyped_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "okno.toml"
    config.write_text(
        "[cluster]\nhold_retry_seconds = 0.5\n[outbox]\nlease_seconds = 12\nsend_timeout_seconds = 40\n",
        encoding="utf-8",
    )
    settings = load(config)
    assert settings.cluster.hold_retry_seconds == 0.5 and settings.cluster.hold_timeout_seconds == 5.0
    assert (settings.outbox.lease_seconds, settings.outbox.send_timeout_seconds) == (12, 40)
    config.write_text("[cluster]\nhold_retry = 0.5\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"cluster\.hold_retry"):
        load(config)
    config.write_text("[outbox]\nlease_second = 12\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"outbox\.lease_second"):
        load(config)
