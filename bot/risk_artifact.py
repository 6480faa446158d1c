"""The shipped risk model: a versioned artifact, its provenance card and the pointer the gateway loads.

``bot/risk_models/`` holds, per trained model, ``<name>.json.gz`` (the learned parameters and the
provenance, gzip with a fixed timestamp so the same training writes the same bytes) and
``<name>.card.json`` (the provenance alone, for people), and ``current.json``: the artifact the
gateway loads and its SHA-256. The name is ``risk-<data hash>-<code hash>``: the hash of the
training rows, and of the feature code's version with the lexicon (the normaliser) it read them
through; a retrain on the same data and code writes the same file.

Loading never stops the gateway: a missing, corrupt or unreadable artifact leaves triage to the
lexicon (and Rasa) with a loud log line and ``/healthz`` naming the risk model degraded; an artifact
trained through another lexicon version is used (its n-grams still mostly mean the same) but also
reported degraded until it is retrained.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.risk_model import FEATURES_VERSION, RiskModel
from contract.config import PROJECT_ROOT

log = logging.getLogger("youthdesk.risk_model")

ARTIFACT_DIR = PROJECT_ROOT / "bot" / "risk_models"
POINTER_NAME = "current.json"
FORMAT = 2  # 2: features as one joined string


@dataclass(frozen=True, slots=True)
class TrainingSet:
    name: str  # e.g. "nlu_data/levels", "cold:train"
    origin: str  # where it comes from: this repository, or a public repository at a commit
    licence: str
    split: str
    rows: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Provenance:
    name: str
    features_version: str
    lexicon_version: str
    seed: int
    data_sha256: str
    sets: list[TrainingSet]
    trained_seconds: float
    # Offline triage (detector + model) on the fixed evaluation splits: what a candidate must not fall below.
    figures: dict[str, float] = field(default_factory=dict)
    parent: str | None = None  # the artifact a feedback candidate was built next to

    @classmethod
    def from_json(cls, data: dict) -> Provenance:  # type: ignore[type-arg]
        return cls(**{**data, "sets": [TrainingSet(**entry) for entry in data["sets"]]})


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """What the gateway runs with: the model (None: lexicon-only triage) and how healthy that is."""

    model: RiskModel | None
    healthy: bool
    detail: str
    provenance: Provenance | None = None


def artifact_name(data_sha256: str, lexicon_version: str) -> str:
    code = hashlib.sha256(f"{FEATURES_VERSION}\0{lexicon_version}".encode()).hexdigest()
    return f"risk-{data_sha256[:12]}-{code[:8]}"


def write_artifact(model: RiskModel, provenance: Provenance, directory: Path = ARTIFACT_DIR) -> Path:
    """Writes ``<name>.json.gz`` and ``<name>.card.json``; the pointer is left alone (``promote``)."""
    directory.mkdir(parents=True, exist_ok=True)
    body = {"format": FORMAT, "provenance": asdict(provenance), "parameters": _rounded(model.parameters())}
    path = directory / f"{provenance.name}.json.gz"
    payload = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    card = directory / f"{provenance.name}.card.json"
    card.write_text(json.dumps(asdict(provenance), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _rounded(value: object) -> object:
    """Six decimals: a tenth of the artifact's size, and no score moves by more than 1e-5."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def point_to(path: Path, directory: Path = ARTIFACT_DIR) -> None:
    """Makes ``path`` the artifact the gateway loads."""
    pointer = {"artifact": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (directory / POINTER_NAME).write_text(json.dumps(pointer, indent=2) + "\n", encoding="utf-8")


def current_path(directory: Path = ARTIFACT_DIR) -> Path:
    return directory / json.loads((directory / POINTER_NAME).read_text(encoding="utf-8"))["artifact"]


def read_artifact(path: Path, normalise: Callable[[str], str],
                  expected_sha256: str | None = None) -> tuple[RiskModel, Provenance]:
    raw = path.read_bytes()
    if expected_sha256 is not None and hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise ValueError(f"{path.name}: its SHA-256 is not the one {POINTER_NAME} names (corrupt or replaced)")
    body = json.loads(gzip.decompress(raw))
    if body.get("format") != FORMAT:
        raise ValueError(f"{path.name}: artifact format {body.get('format')!r}, this code reads {FORMAT}")
    return RiskModel.from_parameters(normalise, body["parameters"]), Provenance.from_json(body["provenance"])


def load_current(normalise: Callable[[str], str], lexicon_version: str,
                 directory: Path | None = None) -> LoadedModel:
    """The promoted artifact (in ``ARTIFACT_DIR`` unless told), or lexicon-only triage with the reason
    said loudly."""
    started = time.perf_counter()
    directory = directory or ARTIFACT_DIR
    try:
        pointer = json.loads((directory / POINTER_NAME).read_text(encoding="utf-8"))
        model, provenance = read_artifact(directory / pointer["artifact"], normalise, pointer["sha256"])
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with the file, triage goes on without it
        detail = f"risk model NOT loaded ({exc!r}); triage runs on the lexicon (and Rasa) only"
        log.error("!!! %s: run `youthdesk risk train` and `youthdesk risk promote`", detail)
        return LoadedModel(None, False, detail)
    seconds = time.perf_counter() - started
    if provenance.features_version != FEATURES_VERSION or provenance.lexicon_version != lexicon_version:
        detail = (f"risk model {provenance.name} was trained for {provenance.features_version} / lexicon "
                  f"{provenance.lexicon_version}, running {FEATURES_VERSION} / lexicon {lexicon_version}: "
                  f"in use, but retrain it (youthdesk risk train)")
        log.error("!!! %s", detail)
        return LoadedModel(model, False, detail, provenance)
    log.info("risk model %s loaded in %.2f s", provenance.name, seconds)
    return LoadedModel(model, True, f"risk model {provenance.name} ({model.examples} training rows)", provenance)
