"""deploy/systemd: `systemd-analyze verify` takes the unit and the target (a parse check where systemd's
tools are missing), and the target starts the ports nginx's upstream names."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = DEPLOY / "systemd"


def _ports() -> list[str]:
    return re.findall(r"server 127\.0\.0\.1:(\d+)", (DEPLOY / "nginx" / "okno.conf").read_text())


def test_the_unit_and_the_target_verify(tmp_path: Path) -> None:
    for unit in UNITS.iterdir():
        shutil.copy(unit, tmp_path / unit.name)
    (tmp_path / "okno@8081.service").symlink_to("okno@.service")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # no systemd here: at least every line is a section, a comment or a key=value
        for unit in UNITS.iterdir():
            parser = configparser.ConfigParser(strict=False, interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
            parser.read_string(unit.read_text())
        return
    done = subprocess.run(
        [analyze, "verify", "okno@8081.service", "okno.target"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The one complaint expected on a test machine: the virtualenv of /opt/okno is not installed here.
    complaints = [
        line for line in (done.stdout + done.stderr).splitlines() if line and "is not executable" not in line
    ]
    assert complaints == []


def test_the_unit_runs_one_hub_per_port_and_restarts_it_on_failure() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / "okno@.service").read_text())
    service = parser["Service"]
    assert service["ExecStart"].endswith("okno run --port %i")
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    target = (UNITS / "okno.target").read_text()
    wanted = re.findall(r"okno@(\d+)\.service", target.split("Wants=")[1].splitlines()[0])
    assert wanted == _ports()
