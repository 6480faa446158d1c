"""Labelled messages for training and evaluating the risk model: the project's JSON lines and two
public sets converted into them.

One row format, one JSON object a line: ``text``, ``level`` (0-3, or null when only a bound is
known), optional ``category``, ``source`` (``set:split``), plus what the set itself says (SOS4K's
``urgency``; counsellors' feedback its ``desk`` and ``day``, ``bot.feedback``). The project's own
files say ``risk`` for the level; both keys are read.

The public sets are downloaded by hand (README) and never committed:

* SOS4K (``HongzhiQ/RSLF-Framework-and-SOS4K-Dataset``, ``data_final/data/*_withExplainFewShot.tsv``):
  Weibo posts rated 0-10 for suicide-risk urgency. It has no licence, so it is for evaluation only:
  the converter keeps the urgency and sets no level; the evaluation reads urgency >= 6 as "should be
  level >= 2" and urgency <= 1 as "should be below 2" (``LabelledRow.risky``) and leaves 2-5 out of
  those two figures, since the scales do not line up there.
* COLD (``thu-coai/COLDataset``, ``COLDataset/{train,dev}.csv``, Apache-2.0): comments on race, gender
  and region, offensive or not. Insults aimed at groups are not a youth's risk, so every row is
  level 0: hard negatives that share words with bullying.

Test splits are refused by name: nobody reads them until a model is final.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

URGENT = 6  # SOS4K urgency from which a post should be read as level >= 2
CALM = 1  # SOS4K urgency up to which a post should be read as below level 2
FORMATS = ("sos4k", "cold")


class SplitRefused(ValueError):
    """A file whose name says it is a test split."""


@dataclass(frozen=True, slots=True)
class LabelledRow:
    text: str
    level: int | None  # None: only a bound is known (SOS4K) or a risk of unknown level (Rasa's risk intents)
    source: str
    category: str | None = None
    urgency: int | None = None  # SOS4K's 0-10 rating
    # Feedback rows (``bot.feedback``): the desk that saved the label and its Beijing day (YYYY-MM-DD).
    desk: str | None = None
    day: str | None = None

    @property
    def risky(self) -> bool | None:
        """Should this be level >= 2? None when the label cannot say (SOS4K urgency 2-5)."""
        if self.level is not None:
            return self.level >= 2
        if self.urgency is not None:
            return True if self.urgency >= URGENT else False if self.urgency <= CALM else None
        return None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None or k == "level"},
                          ensure_ascii=False)


def refuse_test_split(path: Path) -> None:
    if "test" in path.name.lower():
        raise SplitRefused(f"{path}: test splits are not read (train, validation and dev splits only)")


def convert(fmt: str, path: Path) -> list[LabelledRow]:
    """A downloaded split of a public set as labelled rows; refuses test splits."""
    refuse_test_split(path)
    split = _split_name(path)
    if fmt == "sos4k":
        return list(_sos4k(path, f"sos4k:{split}"))
    if fmt == "cold":
        return list(_cold(path, f"cold:{split}"))
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _split_name(path: Path) -> str:
    stem = path.stem.lower()
    for split in ("train", "val", "dev"):
        if stem.startswith(split):
            return split
    return stem


def _sos4k(path: Path, source: str) -> Iterator[LabelledRow]:
    csv.field_size_limit(1 << 24)  # the explanations are long
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        for number, record in enumerate(reader, 2):
            text, urgency = (record.get("comment") or "").strip(), (record.get("myLabel") or "").strip()
            if not text or not urgency.isdigit() or not 0 <= int(urgency) <= 10:
                raise ValueError(f"{path}:{number}: needs a comment and an urgency 0-10")
            yield LabelledRow(text=text, level=None, source=source, urgency=int(urgency))


def _cold(path: Path, source: str) -> Iterator[LabelledRow]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, record in enumerate(csv.DictReader(handle), 2):
            text = (record.get("TEXT") or "").strip()
            if not text or record.get("label") not in ("0", "1"):
                raise ValueError(f"{path}:{number}: needs TEXT and a label 0/1")
            yield LabelledRow(text=text, level=0, source=source)


def write_jsonl(rows: Iterable[LabelledRow], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(row.to_json() + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[LabelledRow]:
    """Rows of a converted set or of the project's own splits (``risk`` or ``level``)."""
    refuse_test_split(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        level = data["level"] if "level" in data else data.get("risk")
        urgency = data.get("urgency")
        if not isinstance(data.get("text"), str) or level not in (None, 0, 1, 2, 3) or (level is None
                                                                                   and urgency is None):
            raise ValueError(f"{path}:{number}: needs text and a level 0-3 (or an urgency)")
        rows.append(LabelledRow(text=data["text"], level=level, category=data.get("category"),
                                source=data.get("source") or path.stem, urgency=urgency, desk=data.get("desk"),
                                day=data.get("day")))
    return rows


def digest(rows: Iterable[LabelledRow]) -> str:
    """A hash of the rows' content, in order: names the data an artifact was trained on."""
    hashed = hashlib.sha256()
    for row in rows:
        hashed.update(row.to_json().encode() + b"\n")
    return hashed.hexdigest()
