"""deploy/nginx/okno.conf in front of three `okno run` processes on one PostgreSQL and one Redis.

One cluster for the module: a scratch PostgreSQL database, three hubs started at once with the shipped
deploy/okno.toml (secrets and addresses from the environment, as on a real machine), and nginx in the
foreground with its own prefix, pid and logs, running the shipped file with only its ports substituted.
The client connects from 127.0.0.2 (nginx connects to the hubs from 127.0.0.1), so the address the hubs
use shows whether the forwarded one was taken.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from hub import db
from inbox.agents import create_agent
from inbox.models import AuditLog
from tests.conftest import REDIS_URL, require_service
from tests.hub.test_demo import cli_env
from tests.scratch_pg import scratch_database
from tests.waiting import eventually, eventually_sync, next_frame, port_open_sync, resolved, within

pytestmark = pytest.mark.postgresql_only
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SHIPPED_PORTS = (8081, 8082, 8083)
CLIENT_ADDRESS = "127.0.0.2"  # any 127/8 address is the loopback; nginx's own is 127.0.0.1
ADMIN = ("admin@deploy.example", "a long deploy password")
SHOP_TOKEN = "deploy-test-shop-token"


@dataclass(frozen=True, slots=True)
class Cluster:
    url: str  # nginx
    hub_ports: tuple[int, ...]
    hub_logs: tuple[Path, ...]
    database_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_nginx(hub_ports: tuple[int, ...], port: int) -> str:
    """The shipped file with the hubs' ports and nginx's listening address substituted (nothing else)."""
    text = (DEPLOY / "nginx" / "okno.conf").read_text()
    for shipped, given in zip(SHIPPED_PORTS, hub_ports, strict=True):
        assert text.count(f"127.0.0.1:{shipped} ") == 1
        text = text.replace(f"127.0.0.1:{shipped} ", f"127.0.0.1:{given} ")
    assert text.count("    listen 80;") == 1
    return text.replace("    listen 80;", f"    listen 127.0.0.1:{port};")


def nginx_main_config(prefix: Path) -> str:
    """What /etc/nginx/nginx.conf gives the shipped file on a machine: an http block including it."""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi"))
    temp += f"\n    uwsgi_temp_path {prefix / 'uwsgi'};\n    scgi_temp_path {prefix / 'scgi'};"
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp dirs in the test's tmp
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp}\n    include {prefix / 'okno.conf'};\n}}\n"
    )


async def _make_admin(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        async with db.sessionmaker(engine)() as session:
            await create_agent(session, email=ADMIN[0], name="Admin", password=ADMIN[1], role="admin")
            await session.commit()
    finally:
        await engine.dispose()


def _redis_up() -> bool:
    url = make_url(REDIS_URL.replace("redis://", "redis+x://", 1))
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 6379), timeout=2):
            return True
    except OSError:
        return False


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    require_service("nginx", Path(nginx).is_file(), "apt-get install nginx")
    require_service("redis", _redis_up(), REDIS_URL)
    tmp = tmp_path_factory.mktemp("cluster")
    with scratch_database("okno_t_nginx") as database_url:
        env = {
            **cli_env(),
            "OKNO_CONFIG": str(DEPLOY / "okno.toml"),
            "OKNO_DATABASE_URL": database_url,
            "OKNO_BUS_URL": REDIS_URL,
            "OKNO_PUBLIC_URL": "",  # plain http here: no Secure cookies
            "OKNO_ATTACHMENTS_DIR": str(tmp / "attachments"),
            "OKNO_SHOP_TOKEN": SHOP_TOKEN,
        }
        hub_ports = tuple(free_port() for _ in SHIPPED_PORTS)
        logs = tuple(tmp / f"hub-{port}.log" for port in hub_ports)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for port, log in zip(hub_ports, logs, strict=True):  # all three at once, as okno.target does
                with log.open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "hub", "run", "--port", str(port)],
                            cwd=tmp,
                            env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            prefix = tmp / "nginx"
            prefix.mkdir()
            port = free_port()
            (prefix / "okno.conf").write_text(render_nginx(hub_ports, port))
            (prefix / "nginx.conf").write_text(nginx_main_config(prefix))
            command = [
                nginx,
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-e",
                str(prefix / "error.log"),
            ]
            checked = subprocess.run(
                [*command, "-t"], capture_output=True, text=True, timeout=60, check=False
            )
            assert checked.returncode == 0, checked.stderr
            procs.append(subprocess.Popen([*command, "-g", "daemon off;"], stdin=subprocess.DEVNULL))
            for proc, log in zip(procs, logs, strict=False):

                def serving(proc: subprocess.Popen[bytes] = proc, log: Path = log) -> bool:
                    assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                    return "Okno is running at" in log.read_text(errors="replace")

                eventually_sync(serving, f"the hub of {log.name} to serve")
            port_open_sync(port, "nginx")
            asyncio.run(_make_admin(database_url))
            yield Cluster(f"http://127.0.0.1:{port}", hub_ports, logs, database_url)
        finally:
            _stop(procs)


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client connecting from CLIENT_ADDRESS, keeping cookies for an IP host."""
    connector = aiohttp.TCPConnector(local_addr=(CLIENT_ADDRESS, 0))
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def _log_in(browser: aiohttp.ClientSession, cluster: Cluster) -> None:
    login = {"email": ADMIN[0], "password": ADMIN[1]}
    async with browser.post(f"{cluster.url}/api/v1/auth/login", json=login) as response:
        assert response.status == 200, await response.text()


async def test_the_login_page_is_served_through_nginx(
    cluster: Cluster, browser: aiohttp.ClientSession
) -> None:
    async with browser.get(f"{cluster.url}/login?lang=en") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert 'type="password"' in await response.text()


async def test_an_agent_socket_sees_a_message_another_process_stored(
    cluster: Cluster, browser: aiohttp.ClientSession
) -> None:
    await _log_in(browser, cluster)
    async with browser.ws_connect(f"{cluster.url.replace('http', 'ws', 1)}/api/v1/ws") as ws:
        assert (await next_frame(ws))["type"] == "hello"
        # least_conn: with the socket holding one process, nginx sends this request to another one.
        message = {
            "external_id": "through-nginx-1",
            "sender": {"name": "Клиент за прокси", "email": "behind-nginx@example.com"},
            "text": "Письмо через nginx",
        }
        headers = {"Authorization": f"Bearer {SHOP_TOKEN}"}
        async with browser.post(
            f"{cluster.url}/api/v1/channels/shop/messages", json=message, headers=headers
        ) as r:
            assert r.status == 201, await r.text()
            stored = await r.json()
        async with within("the stored message's event on the agent socket"):
            while True:
                frame = await next_frame(ws)
                if frame.get("conversation_id") == stored["conversation_id"]:
                    break
    served = {}  # which process logged which request (access-log lines name the client address)
    for path in ("GET /api/v1/ws", "POST /api/v1/channels/shop/messages"):

        def logged(path: str = path) -> str | None:
            for log in cluster.hub_logs:
                for line in log.read_text(errors="replace").splitlines():
                    if path in line:
                        assert CLIENT_ADDRESS in line, line
                        return log.name
            return None

        served[path] = await eventually(logged, f"the access-log line of {path}")
    assert served["GET /api/v1/ws"] != served["POST /api/v1/channels/shop/messages"]


async def test_the_hubs_use_the_clients_address_not_nginxs(
    cluster: Cluster, browser: aiohttp.ClientSession
) -> None:
    await _log_in(browser, cluster)
    engine = db.create_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(AuditLog.detail).where(AuditLog.action == "login"))).scalars()
            addresses = {row["ip"] for row in rows if row}
    finally:
        await engine.dispose()
    assert addresses == {CLIENT_ADDRESS}


async def test_the_visitor_socket_is_upgraded_through_nginx(
    cluster: Cluster, browser: aiohttp.ClientSession
) -> None:
    url = f"{cluster.url.replace('http', 'ws', 1)}/webchat/site/ws"
    async with browser.ws_connect(url, headers={"Origin": "https://www.example.com"}) as ws:
        await ws.send_json({"type": "hello"})
        hello = await next_frame(ws, "the widget's hello")
    assert hello["type"] == "hello" and hello["token"]


async def test_metrics_are_closed_through_nginx_and_open_on_each_process_loopback(
    cluster: Cluster, browser: aiohttp.ClientSession
) -> None:
    async with browser.get(f"{cluster.url}/metrics") as response:
        assert response.status == 403
    async with aiohttp.ClientSession() as direct:
        for port in cluster.hub_ports:
            async with direct.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert "okno_sockets" in await resolved(response.text(), "the metrics")
