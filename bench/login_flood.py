"""Login flood: how a stream of wrong-password log-ins slows everyone else down.

For each source tree given (``--tree``, in one run so that the machine's load is the same), starts
``python -m hub demo`` from that tree as a subprocess (SQLite, a temporary directory, loopback), logs
one demo agent in, then measures the latency of an authenticated ``GET /api/v1/conversations``:
first alone (the baseline), then while 8 client tasks loop wrong-password log-ins. Prints p50/p99 of
both, their ratio, the 5xx answers, and what the flood's log-ins were answered.

    python bench/login_flood.py --tree /work/wt-base --tree /work/wt-auth

Everything is bounded: each phase lasts `--seconds` (baseline: a third of it), each request waits at
most 60 s, the server is stopped at the end whatever happens.
"""

from __future__ import annotations

import os
import sys

# `python bench/login_flood.py` puts bench/ first on sys.path, where bench/email.py would shadow the
# standard library's `email` package (aiohttp imports it): drop that entry before anything imports it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import aiohttp  # noqa: E402

URL_LINE = re.compile(r"^Okno is running at (http://\S+/)")
LOGIN_LINE = re.compile(r"^\s+(\w+)\s+(\S+@\S+)\s+password: (\S+)")
REQUEST_CEILING = 60.0
START_CEILING = 120.0
FLOOD_CLIENTS = 8


@dataclass
class Result:
    tree: str
    baseline: list[float] = field(default_factory=list)
    flood: list[float] = field(default_factory=list)
    get_5xx: int = 0
    get_errors: int = 0
    logins: Counter[int] = field(default_factory=Counter)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_demo(tree: Path, workdir: Path) -> tuple[asyncio.subprocess.Process, str, str, str]:
    """The demo hub of `tree`: the process, its URL, and one agent's e-mail and password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env["PYTHONPATH"] = str(tree)
    port = free_port()
    stderr = (workdir / "stderr.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "demo",
        "--port",
        str(port),
        "--db",
        str(workdir / "okno.db"),
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )
    stderr.close()
    assert proc.stdout is not None
    url = email = password = ""
    try:
        async with asyncio.timeout(START_CEILING):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"the demo of {tree} exited; see {workdir / 'stderr.log'}")
                if found := URL_LINE.match(line):
                    url = found.group(1)
                elif (found := LOGIN_LINE.match(line)) and not email:
                    email, password = found.group(2), found.group(3)
                elif line.startswith("Press Ctrl+C"):
                    break
    except BaseException:
        await stop(proc)
        raise
    if not (url and email):
        await stop(proc)
        raise RuntimeError(f"the demo of {tree} printed no URL or login")
    return proc, url, email, password


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), REQUEST_CEILING)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def timed_gets(
    http: aiohttp.ClientSession, url: str, until: float, into: list[float], result: Result
) -> None:
    while time.monotonic() < until:
        began = time.perf_counter()
        try:
            async with http.get(url + "api/v1/conversations") as response:
                await response.read()
                if response.status >= 500:
                    result.get_5xx += 1
                elif response.status != 200:
                    result.get_errors += 1
        except (aiohttp.ClientError, TimeoutError):
            result.get_errors += 1
        into.append((time.perf_counter() - began) * 1000)


async def flood(url: str, email: str, until: float, result: Result) -> None:
    """One attacker: wrong-password log-ins in a loop, with its own connection (no cookies)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_CEILING)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for n in range(1_000_000):
            if time.monotonic() >= until:
                return
            try:
                body = {"email": email, "password": f"wrong-{n}"}
                async with http.post(url + "api/v1/auth/login", json=body) as response:
                    await response.read()
                    result.logins[response.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                result.logins[0] += 1


async def measure(tree: Path, seconds: float) -> Result:
    result = Result(str(tree))
    with tempfile.TemporaryDirectory(prefix="okno-login-flood-") as tmp:
        proc, url, email, password = await start_demo(tree, Path(tmp))
        try:
            timeout = aiohttp.ClientTimeout(total=REQUEST_CEILING)
            jar = aiohttp.CookieJar(unsafe=True)  # the session cookie of a hub on 127.0.0.1
            async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as http:
                login = {"email": email, "password": password}
                async with http.post(url + "api/v1/auth/login", json=login) as response:
                    if response.status != 200:
                        raise RuntimeError(
                            f"{tree}: log-in failed: {response.status} {await response.text()}"
                        )
                await timed_gets(http, url, time.monotonic() + seconds / 3, result.baseline, result)
                until = time.monotonic() + seconds
                attackers = [flood(url, email, until, result) for _ in range(FLOOD_CLIENTS)]
                await asyncio.gather(timed_gets(http, url, until, result.flood, result), *attackers)
        finally:
            await stop(proc)
    return result


def report(results: list[Result]) -> None:
    print(
        f"{'tree':<24} {'base p50':>9} {'base p99':>9} {'flood p50':>10} {'flood p99':>10} "
        f"{'p50 x':>7} {'GETs':>6} {'GET 5xx':>8}  flood log-ins by status"
    )
    for r in results:
        base50, flood50 = percentile(r.baseline, 0.5), percentile(r.flood, 0.5)
        statuses = ", ".join(f"{s or 'error'}: {n}" for s, n in sorted(r.logins.items()))
        print(
            f"{r.tree:<24} {base50:>7.1f}ms {percentile(r.baseline, 0.99):>7.1f}ms "
            f"{flood50:>8.1f}ms {percentile(r.flood, 0.99):>8.1f}ms {flood50 / base50:>7.1f} "
            f"{len(r.flood):>6} {r.get_5xx:>8}  {statuses}"
        )
    if any(r.get_errors for r in results):
        print("non-200, non-5xx GET answers or connection errors:", {r.tree: r.get_errors for r in results})
    means = ", ".join(f"{statistics.fmean(r.flood):.1f} ms" for r in results if r.flood)
    print(f"(mean of flood GETs: {means})")


async def main_async(trees: list[Path], seconds: float) -> None:
    results = [await measure(tree, seconds) for tree in trees]
    report(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tree", action="append", required=True, help="a source tree to run the hub from")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the flood lasts (default 15)")
    args = parser.parse_args(argv)
    asyncio.run(main_async([Path(t).resolve() for t in args.tree], args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
