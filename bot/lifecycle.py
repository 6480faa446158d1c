"""The Rasa server's life: its own Python 3.10 virtualenv, cached training, a private HTTP API.

Rasa 3.6 runs on Python 3.8-3.10 while the gateway needs 3.11, so Rasa lives in
``bot/.venv-rasa`` and is driven as a subprocess. Training is cached by a hash of everything
that shapes the model (``bot/*.yml``, ``nlu_data/nlu/``, the jieba dictionary and the Rasa
version): ``bot/models/<hash>.tar.gz``. The server binds to 127.0.0.1 with ``--enable-api``
and an auth token (``RASA_TOKEN`` or a fresh one per run): the API can load models, so it is
never exposed. Long steps write to a log and print a heartbeat so that ``make run`` shows progress.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

from contract.config import PROJECT_ROOT

RASA_VERSION: Final = "3.6.21"
REQUIREMENTS: Final = (f"rasa=={RASA_VERSION}", "jieba==0.42.1")
BOT_DIR: Final = PROJECT_ROOT / "bot"
VENV_DIR: Final = BOT_DIR / ".venv-rasa"
MODELS_DIR: Final = BOT_DIR / "models"
NLU_DIR: Final = PROJECT_ROOT / "nlu_data" / "nlu"
JIEBA_DIR: Final = PROJECT_ROOT / "nlu_data" / "jieba"
STAMP_NAME: Final = ".youthdesk-installed"
KEEP_MODELS: Final = 3
HEARTBEAT_SECONDS: Final = 15.0

Echo = Callable[[str], None]


class RasaSetupError(Exception):
    """Rasa could not be installed, trained or started; the message says what to look at."""


def _stdout(line: str) -> None:
    print(line, flush=True)


# ---------------------------------------------------------------- install


def find_python310(environ: dict[str, str] | None = None) -> Path | None:
    """The newest pyenv 3.10.x (``pyenv root``, else ``$PYENV_ROOT`` / ``~/.pyenv``), else ``python3.10``."""
    env = os.environ if environ is None else environ
    roots: list[Path] = []
    pyenv = shutil.which("pyenv", path=env.get("PATH"))
    if pyenv:
        result = subprocess.run([pyenv, "root"], capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if result.returncode == 0 and result.stdout.strip():
            roots.append(Path(result.stdout.strip()))
    roots += [Path(env["PYENV_ROOT"])] if env.get("PYENV_ROOT") else []
    roots.append(Path(env.get("HOME", str(Path.home()))) / ".pyenv")
    for root in roots:
        candidates = [p for p in (root / "versions").glob("3.10.*/bin/python3.10") if p.is_file()]
        if candidates:
            return max(candidates, key=lambda p: _version_key(p.parent.parent.name))
    found = shutil.which("python3.10", path=env.get("PATH"))
    return Path(found) if found else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def venv_bin(name: str, venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / name


def is_installed(venv: Path = VENV_DIR) -> bool:
    """Installed by us, for these requirements (a half-finished or older install does not count)."""
    stamp = venv / STAMP_NAME
    return venv_bin("rasa", venv).is_file() and stamp.is_file() and stamp.read_text() == _stamp_text()


def _stamp_text() -> str:
    return "\n".join(REQUIREMENTS) + "\n"


def install(*, venv: Path = VENV_DIR, echo: Echo = _stdout) -> None:
    """Create the virtualenv and install Rasa into it (about 3 minutes and 2.7 GB the first time)."""
    with _lock("install"):
        if is_installed(venv):
            return
        if not venv_bin("python", venv).is_file():
            python = find_python310()
            if python is None:
                raise RasaSetupError("Rasa 3.6 needs Python 3.10: none found through `pyenv root` or as python3.10 "
                                     "on the PATH (install it with `pyenv install 3.10`)")
            echo(f"==> creating {_rel(venv)} with {python}")
            _run_logged([str(python), "-m", "venv", str(venv)], MODELS_DIR / "venv-create.log", "venv", echo)
        echo(f"==> installing {' '.join(REQUIREMENTS)} into {_rel(venv)} (about 3 minutes the first time)")
        log = venv / "install.log"
        _run_logged([str(venv_bin("python", venv)), "-m", "pip", "install", "--disable-pip-version-check",
                     "--progress-bar", "off", *REQUIREMENTS], log, "pip install", echo)
        (venv / STAMP_NAME).write_text(_stamp_text())
        echo(f"==> Rasa {RASA_VERSION} installed")


# ---------------------------------------------------------------- train


def training_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """Every file that shapes the model, in a stable order (``bot/sources.yml`` is for people and tests only)."""
    files = [root / "bot" / name for name in ("config.yml", "domain.yml", "endpoints.yml", "rules.yml")]
    for directory in (root / "nlu_data" / "nlu", root / "nlu_data" / "jieba"):
        files += sorted(p for p in directory.rglob("*") if p.is_file())
    return files


def data_hash(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256(f"rasa {RASA_VERSION}\n".encode())
    for path in training_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(root: Path = PROJECT_ROOT) -> Path:
    return root / "bot" / "models" / f"{data_hash(root)}.tar.gz"


@dataclass(frozen=True, slots=True)
class TrainResult:
    model: Path
    trained: bool  # False: the cached model for this data was reused
    seconds: float


def train(*, force: bool = False, echo: Echo = _stdout) -> TrainResult:
    """Train only when the training data changed (or ``force``); returns the model for this data."""
    if not is_installed():
        raise RasaSetupError(f"Rasa is not installed in {_rel(VENV_DIR)}: run `youthdesk bot install`")
    with _lock("train"):
        target = model_path()
        if target.is_file() and not force:
            return TrainResult(model=target, trained=False, seconds=0.0)
        echo(f"==> training the Rasa model {target.name} (about ten minutes)")
        seconds = _train_into(BOT_DIR / "config.yml", target, MODELS_DIR / "train.log", echo)
        _prune_models(keep=target)
        echo(f"==> model trained in {seconds:.0f} s: {_rel(target)}")
        return TrainResult(model=target, trained=True, seconds=seconds)


def train_with_config(config: Path, target: Path, *, echo: Echo = _stdout) -> float:
    """Train the current data with another pipeline config (a different seed) into ``target``; the
    seconds it took. Nothing is cached or pruned: the caller names and keeps its models."""
    if not is_installed():
        raise RasaSetupError(f"Rasa is not installed in {_rel(VENV_DIR)}: run `youthdesk bot install`")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock("train"):  # one training at a time on this machine's checkout, like train()
        return _train_into(config, target, target.with_name(target.name.removesuffix(".tar.gz") + ".train.log"),
                           echo)


def _train_into(config: Path, target: Path, log_path: Path, echo: Echo) -> float:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".train-") as out:
        name = target.name.removesuffix(".tar.gz")
        _run_logged([str(venv_bin("rasa")), "train", "--config", str(config), "--domain", "bot/domain.yml",
                     "--data", "bot/rules.yml", "nlu_data/nlu", "--out", out, "--fixed-model-name", name],
                    log_path, "rasa train", echo)
        # A half-written model must never look cached: it appears under its final name only now.
        os.replace(Path(out) / target.name, target)
    return time.monotonic() - started


def _prune_models(keep: Path) -> None:
    models = sorted(MODELS_DIR.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [m for m in models if m != keep][KEEP_MODELS - 1:]:
        old.unlink(missing_ok=True)


# ---------------------------------------------------------------- serve


@dataclass(slots=True)
class RasaServer:
    url: str
    token: str
    model: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    _log: TextIO | None = field(default=None, repr=False)

    def ready(self) -> bool:
        """One probe of ``GET /status``: answering and with a model loaded."""
        request = urllib.request.Request(f"{self.url}/status?token={urllib.parse.quote(self.token)}")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - our own loopback server
                return bool(json.loads(response.read()).get("model_id"))
        except (OSError, ValueError):
            return False

    def wait_ready(self, timeout: float = 180.0, echo: Echo = _stdout) -> None:
        deadline = time.monotonic() + timeout
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        while not self.ready():
            if self.process.poll() is not None:
                raise RasaSetupError(f"the Rasa server exited with {self.process.returncode}:\n{_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise RasaSetupError(f"the Rasa server was not ready after {timeout:.0f} s:\n{_tail(self.log_path)}")
            if time.monotonic() > next_beat:
                echo(f"    ... Rasa is starting (log: {_rel(self.log_path)})")
                next_beat += HEARTBEAT_SECONDS
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def start_server(model: Path, *, port: int | None = None, token: str | None = None,
                 log_path: Path | None = None) -> RasaServer:
    """Start ``rasa run`` on 127.0.0.1 (API on, auth token required); call ``wait_ready()`` next."""
    port = port or free_port()
    token = token or os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)
    log_path = log_path or MODELS_DIR / "serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w", encoding="utf-8")
    # "--auth-token=" form: a generated token may begin with "-", which argparse would read as an option.
    command = [str(venv_bin("rasa")), "run", "--enable-api", f"--auth-token={token}", "--interface", "127.0.0.1",
               "--port", str(port), "--model", str(model), "--endpoints", "bot/endpoints.yml", "--connector", "rest"]
    # Own session: a Ctrl-C in the terminal reaches the gateway, which then stops Rasa in order.
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=rasa_env(), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                               start_new_session=True)
    return RasaServer(url=f"http://127.0.0.1:{port}", token=token, model=model, log_path=log_path,
                      process=process, _log=log)


def start(*, echo: Echo = _stdout, port: int | None = None, token: str | None = None,
          log_path: Path | None = None) -> RasaServer:
    """Install if missing, train if needed, serve and wait until a model answers; the caller stops it."""
    install(echo=echo)
    model = train(echo=echo).model
    echo("==> starting the Rasa server (about 20 s)")
    server = start_server(model, port=port, token=token, log_path=log_path)
    try:
        server.wait_ready(echo=echo)
    except BaseException:  # Ctrl-C while waiting included: never leave a server behind
        server.stop()
        raise
    return server


@contextmanager
def running_server(*, echo: Echo = _stdout, port: int | None = None, token: str | None = None,
                   log_path: Path | None = None) -> Iterator[RasaServer]:
    server = start(echo=echo, port=port, token=token, log_path=log_path)
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "RASA_TELEMETRY_ENABLED": "false",  # it would try to reach its telemetry host
        "RASA_CACHE_DIRECTORY": str(MODELS_DIR / ".cache"),  # not .rasa/ in the project root
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    })
    env.pop("PYTHONPATH", None)  # the gateway's 3.11 paths must not leak into Rasa's 3.10
    return env


# ---------------------------------------------------------------- helpers


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """One install/train at a time across processes (make run, a test run, CI)."""
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    with (MODELS_DIR / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_logged(command: list[str], log_path: Path, what: str, echo: Echo) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=rasa_env(), stdout=log,  # noqa: S603
                                   stderr=subprocess.STDOUT)
        while True:
            try:
                code = process.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                echo(f"    ... {what}: {time.monotonic() - started:.0f} s (log: {_rel(log_path)})")
    if code != 0:
        raise RasaSetupError(f"{what} failed with exit code {code}; last lines of {_rel(log_path)}:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
