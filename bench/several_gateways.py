"""One vs two gateways on a shared MongoDB-wire store (mongoeco) and Redis: WeChat acks/s and p50/p99.

``youthdesk serve`` processes (demo configuration, triage off, so each message is verified, stored
under the conversation's lease, published through Redis and routed under the routing lease) share
a ``mongoeco`` wire server (``tests.wire_store``, memory engine, Python 3.13) and a redis-server.
Closed loop: ``BENCH_GATEWAY_YOUTHS`` youths (default 8) write at once, each waiting for its
previous "success", round-robin over the gateways (a youth's messages alternate between them), for
``BENCH_GATEWAY_SECONDS`` (default 8 s) per row. The bare aiohttp handler of ``bench.wechat_webhook``
answers the same pushes in the same run. mongoeco is the bottleneck here (it serves roughly a
hundred simple operations a second on this machine): these rows measure it, not MongoDB.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from bench._stats import describe_ms
from bench.wechat_webhook import _start
from channels.wechat_protocol import SignedQuery, signed_push
from contract.config import DEMO_CONFIG_PATH, ChannelAccountConfig, load_settings
from tests.wire_store import free_port, mongoeco_server

YOUTHS = int(os.environ.get("BENCH_GATEWAY_YOUTHS", "8"))
SECONDS = float(os.environ.get("BENCH_GATEWAY_SECONDS", "8"))
STARTUP_SECONDS = 120


@contextmanager
def _redis(directory: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed (`make system-deps`)")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",  # noqa: S603
                                "--appendonly", "no", "--dir", str(directory)], stdout=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def _gateway(directory: Path, name: str, environ: dict[str, str]) -> Iterator[str]:
    port = free_port()
    text = DEMO_CONFIG_PATH.read_text(encoding="utf-8").replace('env = "demo"', 'env = "test"', 1)
    text = text.replace("port = 8080", f'port = {port}\ndata_dir = "{directory / name}"\ntriage_enabled = false', 1)
    config = directory / f"{name}.toml"
    config.write_text(text, encoding="utf-8")
    with (directory / f"{name}.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "--config", str(config), "serve"],  # noqa: S603
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **environ})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(timeout=10)


async def _until_up(base: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base}/healthz"):
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gateway at {base} did not start") from None
                await asyncio.sleep(0.2)


async def _closed_loop(bases: list[str], account: ChannelAccountConfig, run: str) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    stop_at = time.monotonic() + SECONDS

    async def youth(http: aiohttp.ClientSession, number: int) -> None:
        nonlocal failures
        n = 0
        while time.monotonic() < stop_at:
            query = SignedQuery.now()
            params, body = signed_push(
                token=account.token, encoding_aes_key=account.encoding_aes_key, receive_id=account.id, mode="safe",
                query=query, fields={"ToUserName": "gh_bench12355", "FromUserName": f"oBench{run}{number:012d}",
                                     "CreateTime": int(query.timestamp), "MsgType": "text", "Content": f"第{n}条",
                                     "MsgId": 6_000_000_000 + number * 100_000 + n})
            base = bases[(n + number) % len(bases)]
            started = time.perf_counter()
            try:
                async with http.post(f"{base}/channels/wechat/{account.id}", params=params, data=body) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1
            n += 1

    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await asyncio.gather(*(youth(http, number) for number in range(YOUTHS)))
    return latencies, failures, time.monotonic() - started


def _cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) of each process this one started, by what it runs."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) != os.getpid():
            continue
        if "mongoeco" in command:
            name = "mongoeco"
        elif "redis-server" in command:
            name = "redis"
        elif "service.cli" in command:
            name = f"gateway {Path(command.split('--config ')[1].split()[0]).stem}"
        elif "spawn_main" in command:
            name = "bare handler"
        else:
            continue
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


async def _measured(label: str, bases: list[str], account: ChannelAccountConfig, run: str) -> None:
    """One closed-loop row, and how busy each server process was meanwhile (% of one core)."""
    before = _cpu_seconds()
    latencies, failures, elapsed = await _closed_loop(bases, account, run)
    busy = {name: (cpu - before.get(name, 0.0)) / elapsed * 100 for name, cpu in _cpu_seconds().items()}
    print(f"   {label:<34} {len(latencies) / elapsed:7.1f} acks/s · {describe_ms(latencies)} · failed {failures}",
          flush=True)
    print(f"   {'':<34} CPU: " + ", ".join(f"{name} {percent:.0f} %" for name, percent in sorted(busy.items())),
          flush=True)


async def main() -> None:
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    account = next(a for a in settings.accounts if a.platform == "wechat")
    print(f"   {YOUTHS} youths writing at once, closed loop, {SECONDS:.0f} s per row; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 shared cores)", flush=True)
    bare = await _start("bare", "")
    try:
        await _measured("bare aiohttp handler", [bare.base], account, "bare")
    finally:
        bare.stop()
    with tempfile.TemporaryDirectory(prefix="youthdesk-gateways-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        environ = {"MONGODB_URI": stack.enter_context(mongoeco_server(directory / "mongoeco.log")),
                   "REDIS_URL": stack.enter_context(_redis(directory))}
        first = stack.enter_context(_gateway(directory, "a", environ))
        await _until_up(first)
        await _measured("one gateway (mongoeco + Redis)", [first], account, "one")
        second = stack.enter_context(_gateway(directory, "b", environ))
        await _until_up(second)
        await _measured("two gateways, round-robin", [first, second], account, "two")
    print("   CPU: % of one core per process during the row (100 % = a whole core). A second gateway doubles the\n"
          "   rate only if the first was the busy one; when mongoeco (one pure-Python process, ~100 simple\n"
          "   operations/s here) is near 100 %, both gateways wait for it and the rate stays.", flush=True)
