"""deploy/compose.yaml: what it mounts exists, the hubs run with deploy/okno.toml on the ports nginx's
upstream names, and deploy/okno.toml itself is a configuration the hub accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub import config_check
from hub.settings import load

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
HUBS = ("okno1", "okno2", "okno3")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def upstream_ports() -> list[str]:
    return re.findall(r"server 127\.0\.0\.1:(\d+)", (DEPLOY / "nginx" / "okno.conf").read_text())


def test_every_file_compose_mounts_or_builds_from_exists() -> None:
    spec = compose()
    named = set(spec.get("volumes") or {})
    assert {"postgres", "redis", "nginx", *HUBS} <= set(spec["services"])
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).resolve().exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']} in {context}"
            for line in (context / build["dockerfile"]).read_text().splitlines():
                if line.startswith("COPY "):
                    for part in line.split()[1:-1]:
                        assert (context / part).exists(), f"{name}: the Dockerfile copies {part}, not there"


def test_the_hubs_use_deploy_okno_toml_on_the_ports_of_nginxs_upstream() -> None:
    services = compose()["services"]
    assert "./nginx/okno.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    ports = []
    for name in HUBS:
        hub = services[name]
        assert hub["environment"]["OKNO_CONFIG"] == "/etc/okno/okno.toml"
        assert "./okno.toml:/etc/okno/okno.toml:ro" in hub["volumes"]
        assert hub["network_mode"] == "service:nginx"  # nginx's 127.0.0.1 is theirs: the same upstream
        assert hub["command"][:3] == ["okno", "run", "--port"]
        ports.append(hub["command"][3])
    assert ports == upstream_ports()


def test_deploy_okno_toml_is_a_configuration_the_hub_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKNO_SHOP_TOKEN", "a token from the environment")
    settings = load(DEPLOY / "okno.toml")
    assert config_check.problems(settings) == []
    assert settings.database_url.startswith("postgresql+asyncpg://") and settings.bus_url.startswith(
        "redis://"
    )
    assert settings.proxy.trusted == ["127.0.0.1/32", "::1/128"]
    # Secrets come from the environment only: no key of the file holds one.
    keys = re.findall(r"^\s*([a-z_]+)\s*=", (DEPLOY / "okno.toml").read_text(), re.MULTILINE)
    assert not [key for key in keys if key in ("token", "password", "secret")], keys
    assert ":" not in settings.database_url.split("@")[0].split("//")[1]  # a URL without a password
