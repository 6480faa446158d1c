"""bot.lifecycle and ``youthdesk run`` without Rasa: finding Python 3.10, the training hash, a degraded start."""

from __future__ import annotations

import argparse
import os
import shutil
import threading
from pathlib import Path

import pytest

from bot import lifecycle
from bot.lifecycle import RasaSetupError
from contract.config import PROJECT_ROOT
from service import cli as service_cli


def _fake_python(root: Path, version: str) -> Path:
    python = root / "versions" / version / "bin" / "python3.10"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return python


def test_the_newest_pyenv_310_wins_over_the_path(tmp_path: Path) -> None:
    _fake_python(tmp_path, "3.10.9")
    newest = _fake_python(tmp_path, "3.10.14")
    _fake_python(tmp_path, "3.11.2")
    found = lifecycle.find_python310({"PATH": "", "PYENV_ROOT": str(tmp_path), "HOME": str(tmp_path / "home")})
    assert found == newest


def test_without_pyenv_python310_on_the_path_is_used(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3.10"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    assert lifecycle.find_python310({"PATH": str(bin_dir), "HOME": str(tmp_path)}) == python
    assert lifecycle.find_python310({"PATH": str(tmp_path / "none"), "HOME": str(tmp_path)}) is None


def _project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "bot").mkdir(parents=True)
    for path in lifecycle.training_files():
        target = root / path.relative_to(PROJECT_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return root


def test_the_model_hash_follows_the_training_data_only(tmp_path: Path) -> None:
    root = _project_copy(tmp_path)
    assert lifecycle.data_hash(root) == lifecycle.data_hash(PROJECT_ROOT)
    (root / "bot" / "notes.md").write_text("not training data")
    (root / "nlu_data" / "eval").mkdir()
    (root / "nlu_data" / "eval" / "rasa_heldout.yml").write_text("held out, never trained on")
    assert lifecycle.data_hash(root) == lifecycle.data_hash(PROJECT_ROOT)
    with (root / "nlu_data" / "jieba" / "userdict.txt").open("a", encoding="utf-8") as handle:
        handle.write("新词 10 n\n")
    changed = lifecycle.data_hash(root)
    assert changed != lifecycle.data_hash(PROJECT_ROOT)
    assert lifecycle.model_path(root) == root / "bot" / "models" / f"{changed}.tar.gz"


def test_the_training_data_never_includes_held_out_text() -> None:
    from bot.evaluation import load_heldout
    from bot.intent_eval import load_rasa_heldout
    from bot.risk_model import load_training_messages

    trained = set()
    for path in lifecycle.training_files():
        if path.suffix == ".yml" and "nlu_data" in path.parts:
            trained |= {line.strip()[2:].strip() for line in path.read_text(encoding="utf-8").splitlines()
                        if line.strip().startswith("- ")}
    trained |= {message.text for message in load_training_messages()}  # the risk model's corpus
    held_out = set()
    for split in (PROJECT_ROOT / "nlu_data" / "eval").glob("*.yml"):  # rasa_heldout.yml, faq_blind*.yml
        held_out |= {row.text for row in load_rasa_heldout(split)}
    # Every split measures generalisation: not one sentence is trained on, by Rasa or by the risk model.
    for split in (PROJECT_ROOT / "nlu_data" / "eval").glob("*.jsonl"):
        held_out |= {row.text for row in load_heldout(split)}
    assert trained and held_out and not trained & held_out, sorted(trained & held_out)


def test_rasa_runs_without_telemetry_and_without_the_gateway_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere/3.11")
    env = lifecycle.rasa_env()
    assert env["RASA_TELEMETRY_ENABLED"] == "false" and "PYTHONPATH" not in env


def test_run_serves_at_once_and_warns_loudly_when_rasa_cannot_be_set_up(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    gateway_serving = threading.Event()

    def broken(**_: object) -> None:
        assert gateway_serving.wait(timeout=5)  # setting Rasa up never holds the gateway back
        raise RasaSetupError("Rasa 3.6 needs Python 3.10: none found")

    started: list[tuple[list[str], str | None]] = []

    def serve(argv: list[str]) -> None:
        # Serving already, pointed at where Rasa will listen.
        started.append((argv, os.environ.get("RASA_URL")))
        gateway_serving.set()
        for thread in [t for t in threading.enumerate() if t.name == "rasa-setup"]:
            thread.join(timeout=5)

    monkeypatch.setattr(lifecycle, "install", broken)
    monkeypatch.setattr("service.cli.main", serve)
    monkeypatch.delenv("RASA_URL", raising=False)
    monkeypatch.delenv("RASA_TOKEN", raising=False)
    args = argparse.Namespace(config=None, host=None, port=8099, log_json=False, without_bot=False)
    service_cli._run_with_bot(args)
    [(argv, rasa_url)] = started
    assert argv == ["serve", "--port", "8099"] and rasa_url is not None and rasa_url.startswith("http://127.0.0.1:")
    assert "THE BOT IS DOWN" in capsys.readouterr().err
