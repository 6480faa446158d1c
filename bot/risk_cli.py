"""``youthdesk risk data convert|train|eval|promote``: the learned risk model's life cycle.

* ``data convert --format sos4k|cold PATH --out OUT.jsonl``: a downloaded public split as labelled rows.
* ``train [--cold COLD_TRAIN.jsonl] [--with-feedback FILE.jsonl] [--seed N]``: writes a candidate
  artifact and its card under ``bot/risk_models/``; the gateway keeps loading the current one.
* ``promote CANDIDATE``: makes it current, unless it is worse than the current model on the
  committed evaluation splits (the gate: ``bot.risk_training.GateFigures``).
* ``eval PATH...``: the full report (``bot.evaluation``) per JSON-lines split.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.risk_data import FORMATS, SplitRefused


def register(subparsers: argparse._SubParsersAction) -> None:
    risk = subparsers.add_parser("risk", help="the learned risk model: convert data, train, evaluate, promote")
    commands = risk.add_subparsers(dest="risk_command", required=True)

    data = commands.add_parser("data", help="public data sets").add_subparsers(dest="data_command", required=True)
    convert = data.add_parser("convert", help="a downloaded train/validation/dev split as JSON lines (test "
                                              "splits are refused)")
    convert.add_argument("--format", required=True, choices=FORMATS)
    convert.add_argument("path", type=Path)
    convert.add_argument("--out", required=True, type=Path)
    convert.set_defaults(handler=_convert)

    train = commands.add_parser("train", help="train a candidate artifact (seeded; named by its data's hash)")
    train.add_argument("--cold", type=Path, help="COLD's converted train split (Apache-2.0 hard negatives)")
    train.add_argument("--with-feedback", type=Path, help="extra de-identified labelled rows (JSON lines)")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--out-dir", type=Path, default=None, help="default: bot/risk_models")
    train.set_defaults(handler=_train)

    promote = commands.add_parser("promote", help="make a candidate the model the gateway loads, if it is not "
                                                  "worse on the evaluation splits")
    promote.add_argument("candidate", type=Path)
    promote.add_argument("--replace-stale", action="store_true",
                         help="the current model was trained through another lexicon or feature version: replace it "
                              "with a candidate for the running one if it loses no recall (false alarms may rise)")
    promote.set_defaults(handler=_promote)

    evaluate = commands.add_parser("eval", help="recall, false alarms, level 3, categories, calibration, latency")
    evaluate.add_argument("paths", nargs="+", type=Path)
    evaluate.add_argument("--artifact", type=Path, help="score this artifact instead of the current one")
    evaluate.add_argument("--examples", action="store_true", help="print missed messages and false alarms")
    evaluate.set_defaults(handler=_eval)


def _convert(args: argparse.Namespace) -> None:
    from bot.risk_data import convert, write_jsonl

    try:
        count = write_jsonl(convert(args.format, args.path), args.out)
    except (SplitRefused, ValueError, OSError) as exc:
        sys.exit(f"youthdesk risk data convert: {exc}")
    print(f"{count} rows -> {args.out}")


def _train(args: argparse.Namespace) -> None:
    from bot.risk import RiskDetector
    from bot.risk_artifact import ARTIFACT_DIR, current_path, read_artifact, write_artifact
    from bot.risk_model import DEFAULT_SEED
    from bot.risk_training import TrainingRefused, train

    detector = RiskDetector()
    extra = {name: path for name, path in (("cold", args.cold), ("feedback", args.with_feedback)) if path}
    directory = args.out_dir or ARTIFACT_DIR
    parent = None
    if args.with_feedback is not None:
        # Feedback is added to what the current model learned from: the same sets and seed.
        try:
            parent = read_artifact(current_path(directory), detector.normalise)[1]
        except (OSError, ValueError, KeyError) as exc:
            sys.exit(f"youthdesk risk train: --with-feedback needs a current model to build on ({exc!r})")
        if missing := [s.name for s in parent.sets[1:] if s.name not in extra]:
            sys.exit(f"youthdesk risk train: the current model also learned from {', '.join(missing)}: pass "
                     "them again (--cold) so the candidate differs by the feedback alone")
    seed = args.seed if args.seed is not None else parent.seed if parent else DEFAULT_SEED
    try:
        model, provenance = train(detector, extra, seed=seed, parent=parent.name if parent else None)
    except (TrainingRefused, SplitRefused, ValueError, OSError) as exc:
        sys.exit(f"youthdesk risk train: {exc}")
    path = write_artifact(model, provenance, directory)
    print(f"candidate {path} ({path.stat().st_size / 1e6:.2f} MB, {model.examples} rows, "
          f"trained in {provenance.trained_seconds:.1f} s)")
    print("fixed evaluation splits (detector + model, no Rasa): "
          + ", ".join(f"{key} {value:.4f}" for key, value in provenance.figures.items()))
    print(f"make it current with: youthdesk risk promote {path}")


def _promote(args: argparse.Namespace) -> None:
    from bot.risk import RiskDetector
    from bot.risk_artifact import current_path, point_to, read_artifact
    from bot.risk_training import gate_figures

    detector = RiskDetector()
    directory = args.candidate.parent
    try:
        candidate, provenance = read_artifact(args.candidate, detector.normalise)
    except (OSError, ValueError, KeyError) as exc:
        sys.exit(f"youthdesk risk promote: cannot read {args.candidate}: {exc!r}")
    try:
        current, current_provenance = read_artifact(current_path(directory), detector.normalise)
    except FileNotFoundError:
        current = None
    if current is not None:
        # Both scored now, with this lexicon: a card's figures may be from another lexicon version.
        mine, theirs = gate_figures(detector, candidate), gate_figures(detector, current)
        losses = mine.worse_than(theirs)
        stale = (current_provenance.lexicon_version != detector.lexicon.version
                 or current_provenance.features_version != provenance.features_version)
        if losses and args.replace_stale and stale:
            # A model trained through an older normaliser reads today's text with features it never saw in
            # training, so its figures are no baseline to hold a fresh model to; recall still must not drop.
            losses = [loss for loss in losses if not loss.startswith("false alarms")]
        if losses:
            sys.exit(f"youthdesk risk promote: refused, {provenance.name} is worse than {current_provenance.name} "
                     f"on the evaluation splits: {'; '.join(losses)}")
        print(f"{provenance.name} against {current_provenance.name}: recall {mine.recall:.4f} / {theirs.recall:.4f}, "
              f"level 3 {mine.level3_recall:.4f} / {theirs.level3_recall:.4f}, false alarms "
              f"{mine.false_alarms:.4f} / {theirs.false_alarms:.4f}")
    point_to(args.candidate, directory)
    print(f"current risk model: {provenance.name} (the gateway loads it at its next start)")


def _eval(args: argparse.Namespace) -> None:
    from bot.evaluation import evaluate_risk
    from bot.risk import RiskDetector
    from bot.risk_artifact import read_artifact
    from bot.risk_data import read_jsonl

    detector = RiskDetector()
    model = read_artifact(args.artifact, detector.normalise)[0] if args.artifact else None
    for path in args.paths:
        try:
            rows = read_jsonl(path)
        except (SplitRefused, ValueError, OSError) as exc:
            sys.exit(f"youthdesk risk eval: {exc}")
        report = asyncio.run(evaluate_risk(rows, None, detector=detector, model=model, name=str(path)))
        print(report.format(examples=args.examples), end="\n\n", flush=True)
