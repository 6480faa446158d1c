"""``youthdesk serve`` as a real process for crash tests: a free port, start and wait, signed WeChat pushes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from channels.wechat_protocol import SignedQuery, signed_push
from contract.config import _ENV_OVERRIDES, DEMO_CONFIG_PATH, Settings

STARTUP_SECONDS = 120  # a loaded 2-core machine can take that long to load triage


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports for servers started later. Every probe stays bound until all
    are chosen: a probe closed at once frees its port for the very next bind, and two of the test's own
    servers would then race for one port."""
    with ExitStack() as probes:
        chosen = [probes.enter_context(socket.socket()) for _ in range(count)]
        for probe in chosen:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in chosen]


def serve_config(tmp_path: Path, port: int, wechat_api: str, **service: str | float | bool) -> Path:
    """demo.toml on a private port and data directory; WeChat's API at ``wechat_api``; ``service`` overrides."""
    text = DEMO_CONFIG_PATH.read_text(encoding="utf-8")
    fields = {"data_dir": str(tmp_path / "data"), **service}
    lines = "".join(f"\n{name} = {_toml(value)}" for name, value in fields.items())
    text = text.replace("port = 8080", f"port = {port}{lines}\n", 1)
    if "env" in service:
        text = text.replace('env = "demo"\n', "", 1)
    # The WeChat account (the first stand-in base) goes to a stand-in the test runs itself.
    text = text.replace('api_base = "standin"', f'api_base = "{wechat_api}"', 1)
    path = tmp_path / "youthdesk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def own_environment() -> dict[str, str]:
    """This environment without the variables the settings overlay reads (contract.config): a served
    gateway's settings are the test's file alone, whatever a developer's shell exports (a YOUTHDESK_PORT
    or REDIS_URL left from ``make run`` would move it off the port the test waits on, or onto a shared Redis)."""
    return {k: v for k, v in os.environ.items() if k not in {*_ENV_OVERRIDES, "YOUTHDESK_CONFIG"}}


@contextmanager
def serving(config: Path, port: int, output: Path, environ: Mapping[str, str] | None = None,
            *, may_exit: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """``youthdesk serve`` until the block ends (then killed); ``environ`` adds variables.

    ``may_exit``: a crash point may end the process while it starts (resuming stored work), before
    it listens; the block then gets the process that has already exited.
    """
    env = {**own_environment(), **(environ or {})}
    with output.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "--config", str(config), "serve"],  # noqa: S603
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if may_exit and process.poll() is not None:
                break
            assert process.poll() is None, output.read_text(encoding="utf-8")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "youthdesk serve did not start"
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def push_wechat(http: aiohttp.ClientSession, port: int, settings: Settings, youth: int, text: str) -> int:
    """One signed (safe-mode) text push from youth number ``youth``; returns the HTTP status."""
    account = next(a for a in settings.accounts if a.platform == "wechat")
    query = SignedQuery.now()
    params, body = signed_push(
        token=account.token, encoding_aes_key=account.encoding_aes_key, receive_id=account.id, mode="safe",
        query=query, fields={"ToUserName": "gh_12355", "FromUserName": youth_openid(youth),
                             "CreateTime": int(query.timestamp), "MsgType": "text", "Content": text,
                             "MsgId": 8_000_000_000 + youth})
    async with http.post(f"http://127.0.0.1:{port}/channels/wechat/{account.id}", params=params,
                         data=body) as response:
        await response.read()
        return response.status


def youth_openid(youth: int) -> str:
    return f"oCrashYouth{youth:016d}"
