"""A MongoDB-wire server for tests and the bench: ``mongoeco`` in its own Python 3.13 virtualenv.

No MongoDB server installs on these machines; ``mongoeco`` (PyPI, pure Python) speaks the wire
protocol, so several ``youthdesk serve`` processes can share one store through PyMongo's
``AsyncMongoClient`` (the production driver path). It needs Python >= 3.13, hence a virtualenv of
its own under ``.youthdesk/`` (gitignored), created from PyPI the first time, like Rasa's.
``python -m tests.wire_store`` creates it (``make test`` does); failing that, it says why and stops.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV = PROJECT_ROOT / ".youthdesk" / "venv-mongoeco"
REQUIREMENT = "mongoeco[mongodb8]==4.11.0"  # the extra brings pymongo, whose bson the wire server needs
STARTUP_SECONDS = 30

# Runs inside the virtualenv: a wire server on the given port until killed.
_SERVER = """
import asyncio, sys
from mongoeco.engines.memory import MemoryEngine
from mongoeco.wire import AsyncMongoEcoProxyServer

async def main():
    server = AsyncMongoEcoProxyServer(engine=MemoryEngine(), port=int(sys.argv[1]))
    address = await server.start()
    print(address.uri, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class WireStoreUnavailable(RuntimeError):
    """mongoeco could not be installed or started; the message says what to do."""


def _python313() -> str | None:
    # A pyenv shim is on the PATH even when 3.13 is not the selected version; it then fails to run.
    found = shutil.which("python3.13")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:  # noqa: S603
        return found
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()  # noqa: S607
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    candidates = sorted(Path(root, "versions").glob("3.13*/bin/python3.13"))
    return str(candidates[-1]) if candidates else None


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_installed() -> Path:
    """The virtualenv's python with mongoeco importable, created and installed if missing."""
    python = _venv_python()
    if python.is_file() and subprocess.run([python, "-c", "import bson, mongoeco.wire"],  # noqa: S603
                                           capture_output=True).returncode == 0:
        return python
    base = _python313()
    if base is None:
        raise WireStoreUnavailable("mongoeco needs Python >= 3.13: none found as python3.13 on the PATH or "
                                   "through `pyenv root` (install it with `pyenv install 3.13`)")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"==> creating {VENV.relative_to(PROJECT_ROOT)} with {base} and installing {REQUIREMENT}", flush=True)
    for command in ([base, "-m", "venv", str(VENV)],
                    [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", REQUIREMENT]):
        result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
        if result.returncode != 0:
            raise WireStoreUnavailable(f"could not install mongoeco ({' '.join(command[:3])} …): "
                                       f"{(result.stderr or result.stdout).strip()[-800:]}")
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mongoeco_server(log_path: Path) -> Iterator[str]:
    """A mongoeco wire server (memory engine) on a free loopback port; yields its MongoDB URI."""
    python = ensure_installed()
    with log_path.open("ab") as log:
        process = subprocess.Popen([python, "-c", _SERVER, str(free_port())],  # noqa: S603
                                   stdout=subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        line = process.stdout.readline().decode().strip()
        if not re.match(r"mongodb://", line) or time.monotonic() > deadline:
            raise WireStoreUnavailable(f"mongoeco did not start: {log_path.read_text(errors='replace')[-800:]}")
        yield line
    finally:
        process.kill()
        process.wait(timeout=10)


if __name__ == "__main__":
    try:
        print(f"mongoeco ready: {ensure_installed()}")
    except WireStoreUnavailable as exc:
        sys.exit(f"error: {exc}")
