"""FAQ answer selection over several trainings: is the bot's choice of answer stable, not lucky?

``python -m bot.faq_eval FILE... --trainings 3 --keep-models DIR`` trains the current data three times
with three seeds (the config's own seed first, then the next ones: the same data, another draw of
DIET's and the ResponseSelector's initial weights and batches) into ``DIR/<data hash>-seed<N>.tar.gz``
and scores each model on the FAQ examples of each ``FILE`` (Rasa NLU YAML, ``faq/<topic>`` intents).
A model already in ``DIR`` under its name is reused, so a run that stopped resumes, and
``python -m bot.faq_eval FILE --models DIR`` scores the kept models again, on a new split, without
training. The config-seed model is what ``youthdesk bot train`` would make: copied to
``bot/models/<data hash>.tar.gz`` it is the served model.

Per model it reports, over the FAQ examples:
- selected: Rasa's parse says ``faq`` with the right answer (the figure the project tracks);
- answered: that, and triage lets the bot answer (no handoff: Rasa confident enough, no risk read
  by the detector or the learned model): what the youth gets from the bot;
- reached a counsellor: not selected, and triage hands the message to a counsellor as a risk. For a
  question that also tells of harm ("我朋友说想自杀我该怎么办") that is the right outcome (README,
  "FAQ questions that tell of harm"); for any other it is a safe miss. It is its own figure, never
  added to the selection: the split does not say which questions tell of harm.
Then, per topic, where its misses went (the confusions to fix first), and the misses themselves,
listed once with how many models made them, split into messages that went to a risk intent (handed
to a counsellor: often the safe outcome), to another intent, or to another answer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

import aiohttp
import yaml

from bot import lifecycle
from bot.intent_eval import LabelledText, Parser, load_rasa_heldout
from bot.rasa_client import FAQ_INTENT, RasaClient, RasaUnavailable
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
from bot.risk_model import RiskModel
from bot.triage import RiskIntent, load_risk_intents, triage_text

SEEDED_COMPONENTS = ("DIETClassifier", "ResponseSelector")


def config_seed(config: dict) -> int:
    """The seed the pipeline config gives DIET (the served model's seed)."""
    for component in config.get("pipeline") or []:
        if component.get("name") == "DIETClassifier" and "random_seed" in component:
            return int(component["random_seed"])
    raise ValueError("the config gives DIETClassifier no random_seed")


def with_seed(config: dict, seed: int) -> dict:
    """The same config with ``seed`` on every trained classifier (DIET and the ResponseSelector)."""
    pipeline = [dict(component, random_seed=seed) if component.get("name") in SEEDED_COMPONENTS else dict(component)
                for component in config.get("pipeline") or []]
    return {**config, "pipeline": pipeline}


def model_name(data_hash: str, seed: int) -> str:
    return f"{data_hash}-seed{seed}.tar.gz"


@dataclass(frozen=True, slots=True)
class Miss:
    text: str
    expected: str
    got: str  # "faq/<topic>" for a wrong answer, else the intent
    kind: str  # "risk intent", "other intent" or "other answer"


@dataclass(slots=True)
class FaqScores:
    model: str
    total: int = 0
    selected: int = 0
    answered: int = 0
    to_counsellor: int = 0  # not selected, handed to a counsellor as a risk
    misses: list[Miss] = field(default_factory=list)

    @property
    def selection(self) -> float:
        return self.selected / self.total if self.total else 0.0

    @property
    def answer_rate(self) -> float:
        return self.answered / self.total if self.total else 0.0

    @property
    def counsellor_rate(self) -> float:
        return self.to_counsellor / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Triage:
    detector: RiskDetector
    model: RiskModel | None
    intents: dict[str, RiskIntent]


def load_triage() -> Triage:
    detector = RiskDetector()
    return Triage(detector=detector, model=load_current(detector.normalise, detector.lexicon.version).model,
                  intents=load_risk_intents())


async def score_faq(rows: Sequence[LabelledText], parser: Parser, triage: Triage, model: str) -> FaqScores:
    scores = FaqScores(model=model)
    for row in rows:
        parse = await parser.parse(row.text)
        # Triage asks Rasa again, as the live router does (Rasa answers the same text the same way).
        decision = await triage_text(row.text, detector=triage.detector, model=triage.model, rasa=parser,
                                     intents=triage.intents)
        scores.total += 1
        if parse.intent == FAQ_INTENT and parse.response_key == row.response_key:
            scores.selected += 1
            scores.answered += not decision.handoff
            continue
        scores.to_counsellor += decision.handoff and decision.reason == "risk"
        if parse.intent == FAQ_INTENT:
            scores.misses.append(Miss(row.text, str(row.response_key), str(parse.response_key), "other answer"))
        else:
            kind = "risk intent" if parse.intent in triage.intents else "other intent"
            scores.misses.append(Miss(row.text, str(row.response_key), parse.intent, kind))
    return scores


def faq_rows(path: Path) -> list[LabelledText]:
    rows = [row for row in load_rasa_heldout(path) if row.response_key is not None]
    if not rows:
        raise ValueError(f"{path} has no faq/<topic> examples")
    return rows


def misses_by_topic(misses: Counter[Miss]) -> list[tuple[str, Counter[str]]]:
    """Per expected topic, how often each wrong intent or answer was chosen: the confusions to fix first."""
    went: dict[str, Counter[str]] = {}
    for miss, count in misses.items():
        went.setdefault(miss.expected, Counter())[miss.got] += count
    return sorted(went.items(), key=lambda item: (-item[1].total(), item[0]))


def format_report(name: str, results: Sequence[FaqScores], label: str | None = None) -> str:
    total = results[0].total if results else 0
    topics = len({m.expected for r in results for m in r.misses})
    lines = [f"== FAQ selection on {name}{f' ({label})' if label else ''}: {total} messages, "
             f"{len(results)} model(s)"]
    for r in results:
        lines.append(f"  {r.model:<40} selected {r.selection:.3f} ({r.selected}/{r.total})  "
                     f"answered after triage {r.answer_rate:.3f} ({r.answered}/{r.total})  "
                     f"missed, reached a counsellor {r.counsellor_rate:.3f} ({r.to_counsellor}/{r.total})")
    if results:
        for figure, values in (("selected", [r.selection for r in results]),
                               ("answered after triage", [r.answer_rate for r in results]),
                               ("missed, reached a counsellor", [r.counsellor_rate for r in results])):
            lines.append(f"{figure}: mean {mean(values):.3f}, min {min(values):.3f}, max {max(values):.3f}")
    misses: Counter[Miss] = Counter(m for r in results for m in r.misses)
    if misses:
        lines.append("misses by topic, over all models (where they went):")
        lines.extend(f"  {topic} {sum(went.values())}: " + ", ".join(f"{got} {n}" for got, n in went.most_common())
                     for topic, went in misses_by_topic(misses))
        lines.append(f"misses ({len(misses)} message/prediction pairs over {topics} topics; [models that made it]):")
        for kind in ("risk intent", "other intent", "other answer"):
            chosen = sorted((m for m in misses if m.kind == kind), key=lambda m: (-misses[m], m.expected, m.text))
            if chosen:
                lines.append(f" to {'a ' if kind == 'risk intent' else 'an '}{kind} ({len(chosen)}):")
                lines.extend(f"  [{misses[m]}] {m.expected} -> {m.got}: {m.text}" for m in chosen)
    return "\n".join(lines)


# ---------------------------------------------------------------- training and serving


def train_seeds(keep: Path, seeds: Sequence[int]) -> list[Path]:
    """One model per seed in ``keep`` (reused when already there); the config's seed uses the config itself."""
    config_path = lifecycle.BOT_DIR / "config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    data_hash = lifecycle.data_hash()
    models: list[Path] = []
    for seed in seeds:
        target = keep / model_name(data_hash, seed)
        models.append(target)
        if target.is_file():
            print(f"==> {target.name}: kept from an earlier run", flush=True)
            continue
        print(f"==> training {target.name} (about ten minutes)", flush=True)
        if seed == config_seed(config):
            seconds = lifecycle.train_with_config(config_path, target)
        else:
            with tempfile.TemporaryDirectory(prefix="faq-eval-") as scratch:
                seeded = Path(scratch) / "config.yml"
                seeded.write_text(yaml.safe_dump(with_seed(config, seed), allow_unicode=True, sort_keys=False),
                                  encoding="utf-8")
                seconds = lifecycle.train_with_config(seeded, target)
        print(f"==> {target.name} trained in {seconds:.0f} s", flush=True)
    return models


async def score_model(model: Path, splits: dict[Path, list[LabelledText]], triage: Triage) -> dict[Path, FaqScores]:
    """One server for the model, every split scored on it."""
    server = lifecycle.start_server(model, log_path=model.with_name(model.name.removesuffix(".tar.gz") + ".serve.log"))
    try:
        await asyncio.to_thread(server.wait_ready)
        async with aiohttp.ClientSession() as session:
            rasa = RasaClient(base_url=server.url, token=server.token, timeout=30.0, http=lambda: session)
            return {path: await score_faq(rows, rasa, triage, model.name) for path, rows in splits.items()}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.faq_eval", description=__doc__.split("\n")[0])
    parser.add_argument("splits", type=Path, nargs="+", help="Rasa NLU YAML with faq/<topic> examples")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--models", type=Path, help="score every *.tar.gz in this folder; no training")
    source.add_argument("--trainings", type=int, help="train this many seeds (the config's, then the next ones)")
    parser.add_argument("--keep-models", type=Path, help="with --trainings: where the models go and stay")
    parser.add_argument("--label", action="append", default=[],
                        help='printed next to the split of the same position, e.g. "seen, error analysis"')
    args = parser.parse_args(argv)
    if len(args.label) > len(args.splits):
        parser.error("more --label than splits")
    splits: dict[Path, list[LabelledText]] = {}
    for path in args.splits:
        try:
            splits[path] = faq_rows(path)
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            parser.exit(2, f"faq_eval: cannot read {path}: {exc}\n")
    if args.trainings is not None:
        if args.keep_models is None or args.trainings < 1:
            parser.error("--trainings N needs N >= 1 and --keep-models DIR")
        start = config_seed(yaml.safe_load((lifecycle.BOT_DIR / "config.yml").read_text(encoding="utf-8")))
        try:
            models = train_seeds(args.keep_models, [start + i for i in range(args.trainings)])
        except lifecycle.RasaSetupError as exc:
            parser.exit(1, f"faq_eval: {exc}\n")
    else:
        models = sorted(args.models.glob("*.tar.gz")) if args.models.is_dir() else []
        if not models:
            parser.exit(2, f"faq_eval: no *.tar.gz models in {args.models}\n")
    triage = load_triage()
    results: dict[Path, list[FaqScores]] = {path: [] for path in splits}
    for model in models:
        try:
            for path, scores in asyncio.run(score_model(model, splits, triage)).items():
                results[path].append(scores)
        except (lifecycle.RasaSetupError, RasaUnavailable) as exc:
            parser.exit(1, f"faq_eval: {model.name}: {exc}\n")
    labels = [*args.label, *[None] * (len(splits) - len(args.label))]
    print("\n\n".join(format_report(str(path), results[path], label)
                      for path, label in zip(splits, labels, strict=True)))


if __name__ == "__main__":
    main(sys.argv[1:])
