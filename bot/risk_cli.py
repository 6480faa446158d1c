"""``youthdesk risk data convert|train|eval|promote``: the learned risk model's life cycle.

* ``data convert --format sos4k|cold PATH --out OUT.jsonl``: a downloaded public split as labelled rows.
* ``train [--cold COLD_TRAIN.jsonl] [--with-feedback FILE.jsonl] [--seed N]``: writes a candidate
  artifact and its card under ``bot/risk_models/``; the gateway keeps loading the current one.
* ``promote CANDIDATE``: makes it current, unless it is worse than the current model on the
  committed evaluation splits (the gate: ``bot.risk_gate``); running gateways load it on ``reload``.
* ``reload --username ADMIN [--url URL]``: every running gateway loads the promoted model (``bot.risk_reload_cli``).
* ``noise [--cold FILE] [--seeds N...]``: the training noise the gate's tolerance is made of.
* ``export-feedback --by USER [--since DATE] [--desk ID] --out FILE.jsonl``: counsellors' saved risk
  labels as de-identified rows (``bot.feedback``), audited.
* ``calibrate [--artifact A] [PATH...]``: fits a calibrator to a model and reports ECE before/after.
* ``eval PATH...``: the full report (``bot.evaluation``) per JSON-lines split.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.risk_data import FORMATS, SplitRefused
from bot.risk_reload_cli import add_reload

if TYPE_CHECKING:
    from bot.risk import RiskDetector
    from bot.risk_model import RiskModel


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
    promote.add_argument("--first", action="store_true",
                         help="the candidate's directory has no current model yet: make it the first, ungated")
    promote.set_defaults(handler=_promote)
    add_reload(commands)

    export = commands.add_parser("export-feedback", help="counsellors' saved risk assessments and changes as "
                                                         "de-identified training rows (audited)")
    export.add_argument("--by", required=True, help="the supervisor's or admin's console username (audited)")
    export.add_argument("--since", help="labels saved from this Beijing day on (YYYY-MM-DD)")
    export.add_argument("--desk", action="append", help="only this desk's labels (repeat for more)")
    export.add_argument("--out", required=True, type=Path, help="FILE.jsonl, for train --with-feedback")
    export.set_defaults(handler=_export_feedback)

    noise = commands.add_parser("noise", help="the gate's tolerance: train with several seeds on the same data and "
                                              "measure how far the gate figures move (minutes per seed)")
    noise.add_argument("--cold", type=Path, help="as for train")
    noise.add_argument("--seeds", type=int, nargs="+", default=[1, 4, 7, 10],
                       help="each trains runs seed..seed+2, so keep them 3 apart")
    noise.set_defaults(handler=_noise)

    calibrate = commands.add_parser("calibrate", help="fit a calibrator of P(level>=2) to a model on the validation "
                                                      "splits and report calibration error before and after")
    calibrate.add_argument("paths", nargs="*", type=Path, help="splits to report on (fitting uses nlu_data/eval "
                                                               "without its report-only blind split)")
    calibrate.add_argument("--artifact", type=Path, help="default: the current model")
    calibrate.set_defaults(handler=_calibrate)

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


def _export_feedback(args: argparse.Namespace) -> None:
    from datetime import datetime

    from bot.feedback import BEIJING, ExportRefused, export_feedback
    from bot.risk_data import write_jsonl
    from contract.config import settings_from_args
    from contract.crypto import DataProtector
    from contract.people import normalise_username
    from store.client import open_store
    from store.document_file import StoreFileInUse
    from store.users import find_user_by_username

    settings = settings_from_args(args)
    try:
        since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=BEIJING) if args.since else None
    except ValueError:
        sys.exit("youthdesk risk export-feedback: --since takes a date, YYYY-MM-DD")
    known = {desk.id for desk in settings.desks}
    if args.desk and (unknown := set(args.desk) - known):
        sys.exit(f"youthdesk risk export-feedback: unknown desk {', '.join(sorted(unknown))}")
    if args.out.is_dir():
        sys.exit(f"youthdesk risk export-feedback: {args.out} is a directory")
    try:  # writable before anything is read; youth words, even de-identified, for the exporting account only
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.touch(mode=0o600)
    except OSError as exc:
        sys.exit(f"youthdesk risk export-feedback: {exc}")
    service = settings.service

    async def work() -> int:
        store = open_store(service.mongodb_uri, service.mongodb_database, data_dir=service.data_dir,
                           protector=DataProtector.from_keys(service.data_key, service.previous_data_keys))
        try:
            await store.ensure_indexes()
            exporter = await find_user_by_username(store, normalise_username(args.by))
            if exporter is None:
                raise ExportRefused(f"no console account {args.by!r}")
            exported = await export_feedback(store, exporter, since=since, desks=args.desk)
        finally:
            await store.close()
        count = write_jsonl(exported.rows, args.out)
        print(f"{count} rows -> {args.out} ({exported.labels} labels; {exported.without_text} without youth text "
              "left, e.g. past retention; same words judged twice keep the latest)")
        return count

    try:
        asyncio.run(work())
    except StoreFileInUse:
        sys.exit("youthdesk risk export-feedback: the embedded store is open in a running service; stop it or set "
                 "MONGODB_URI")
    except (ExportRefused, ValueError, OSError) as exc:
        sys.exit(f"youthdesk risk export-feedback: {exc}")


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
    if model.calibrator is not None:
        print(f"calibrator: {model.calibrator.method} on {model.calibrator.rows} validation rows (ECE on held-out "
              f"halves: {', '.join(f'{k} {v:.4f}' for k, v in model.calibrator.chosen_by.items())})")
    print("fixed evaluation splits (detector + model, no Rasa): "
          + ", ".join(f"{key} {value:.4f}" for key, value in provenance.figures.items()))
    print(f"make it current with: youthdesk risk promote {path}")


def _promote(args: argparse.Namespace) -> None:
    from bot.risk import RiskDetector
    from bot.risk_gate import PromotionRefused, promote

    try:
        promotion = promote(args.candidate, RiskDetector(), replace_stale=args.replace_stale, first=args.first)
    except PromotionRefused as exc:
        sys.exit(f"youthdesk risk promote: {exc}")
    if promotion.candidate is not None and promotion.current is not None:
        mine, theirs = promotion.candidate, promotion.current
        print(f"{promotion.name} against {promotion.replaced}: recall {mine.recall:.4f} / {theirs.recall:.4f}, "
              f"level 3 {mine.level3_recall:.4f} / {theirs.level3_recall:.4f}, false alarms "
              f"{mine.false_alarms:.4f} / {theirs.false_alarms:.4f}")
    print(f"current risk model: {promotion.name}; running gateways load it on `youthdesk risk reload --username "
          "ADMIN` (all instances), SIGHUP (kill -HUP <pid>, that process) or at their next start")


def _noise(args: argparse.Namespace) -> None:
    from bot.risk import RiskDetector
    from bot.risk_gate import GateFigures, tolerance_from
    from bot.risk_training import TrainingRefused, train

    detector = RiskDetector()
    extra = {"cold": args.cold} if args.cold else {}
    runs = []
    for seed in args.seeds:
        try:
            figures = train(detector, extra, seed=seed)[1].figures
        except (TrainingRefused, SplitRefused, ValueError, OSError) as exc:
            sys.exit(f"youthdesk risk noise: {exc}")
        runs.append(GateFigures(figures["fixed_splits_recall"], figures["fixed_splits_level3_recall"],
                                figures["fixed_splits_false_alarms"]))
        print(f"seed {seed}: recall {runs[-1].recall:.4f}, level 3 {runs[-1].level3_recall:.4f}, "
              f"false alarms {runs[-1].false_alarms:.4f}", flush=True)
    tolerance = tolerance_from(runs)
    print(f"tolerance (1.96 x sqrt 2 x sd over {len(runs)} seeds): recall {tolerance.recall}, level 3 "
          f"{tolerance.level3_recall}, false alarms {tolerance.false_alarms}")


def _calibrate(args: argparse.Namespace) -> None:
    from bot.evaluation import fixed_splits
    from bot.risk import RiskDetector
    from bot.risk_artifact import current_path, read_artifact
    from bot.risk_calibration import expected_calibration_error
    from bot.risk_data import read_jsonl
    from bot.risk_training import REPORT_ONLY, calibrate

    detector = RiskDetector()
    path = args.artifact or current_path()
    model, provenance = read_artifact(path, detector.normalise)
    fitting = [split for split in fixed_splits() if split.name not in REPORT_ONLY]
    calibrator = calibrate(model, fitting)
    print(f"{provenance.name}: {calibrator.method} chosen, fitted on {calibrator.rows} rows of "
          f"{', '.join(split.name for split in fitting)}")
    print("ECE on the held-out half, two folds by text hash: "
          + ", ".join(f"{name} {value:.4f}" for name, value in calibrator.chosen_by.items()))
    every = [row for split in fixed_splits() for row in read_jsonl(split)]
    changed = asyncio.run(_decisions_changed(detector, model, model.calibrated(calibrator), [r.text for r in every]))
    print(f"triage decisions (level, category, reason, cues) changed by the calibrator: {changed} of {len(every)} "
          "nlu_data/eval rows")
    for split in args.paths:
        try:
            rows = [row for row in read_jsonl(split) if row.risky is not None]
        except (SplitRefused, ValueError, OSError) as exc:
            sys.exit(f"youthdesk risk calibrate: {exc}")
        raw = [model.scores(row.text).risk for row in rows]
        outcomes = [bool(row.risky) for row in rows]
        before = expected_calibration_error(list(zip(raw, outcomes, strict=True)))
        after = expected_calibration_error([(calibrator.apply(p), y) for p, y in zip(raw, outcomes, strict=True)])
        print(f"{split}: {len(rows)} rows, ECE {before:.4f} raw, {after:.4f} calibrated")


async def _decisions_changed(detector: RiskDetector, raw: RiskModel, calibrated: RiskModel,
                             texts: list[str]) -> int:
    from bot.triage import load_risk_intents, triage_text

    intents = load_risk_intents()
    changed = 0
    for text in texts:
        before = await triage_text(text, detector=detector, model=raw, rasa=None, intents=intents)
        after = await triage_text(text, detector=detector, model=calibrated, rasa=None, intents=intents)
        changed += (before.risk, before.category, before.reason, before.cues) != (
            after.risk, after.category, after.reason, after.cues)
    return changed


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
