"""``youthdesk export | report | retention run | early-warning run``: the shared-data commands.

They work on the store the service uses: MongoDB (``MONGODB_URI``), or the durable embedded store in
``service.data_dir`` while the service is stopped (one process owns that file).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from contract.config import Settings, settings_from_args
from contract.models import utcnow
from handoff.access import descendants
from handoff.errors import HandoffError
from store.client import Store, open_store
from store.document_file import StoreFileInUse

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser("export", help="按统一数据字段导出会话与工单记录（经 JSON Schema 校验）")
    export.add_argument("--from", dest="first", required=True, help="开始日期 YYYY-MM-DD（北京时间）")
    export.add_argument("--to", dest="last", required=True, help="结束日期 YYYY-MM-DD（含当日）")
    export.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    export.add_argument("--deidentify", action="store_true",
                        help="去标识化：无标识符、无自由文本、时间到小时、地区到地级")
    export.add_argument("--desk", help="只导出该服务台及其下级（默认全部）")
    export.add_argument("--out", help="输出文件（默认标准输出）")
    export.set_defaults(handler=_export)

    report = subparsers.add_parser("report", help="生成月度数据研究报告（PDF 或 HTML）")
    report.add_argument("--period", required=True, help="统计月份 YYYY-MM")
    report.add_argument("--desk", help="只统计该服务台及其下级（默认全国）")
    report.add_argument("--out", required=True, help="report.pdf 或 report.html")
    report.set_defaults(handler=_report)

    retention = subparsers.add_parser("retention", help="数据保存期限")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    run = retention_commands.add_parser("run", help="清除或匿名化超过保存期限的数据（法律保全与强制报告除外）")
    run.add_argument("--dry-run", action="store_true", help="只统计，不改动数据")
    run.set_defaults(handler=_retention)

    warning = subparsers.add_parser("early-warning", help="研判预警")
    warning_commands = warning.add_subparsers(dest="early_warning_command", required=True)
    warning_commands.add_parser("run", help="按案由与地区检测异常增多并向省级、全国督导发出预警").set_defaults(
        handler=_early_warning)


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                           data_dir=settings.service.data_dir)
        try:
            await store.ensure_indexes()
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreFileInUse:
        sys.exit("youthdesk: 数据文件正被运行中的服务占用；请先停止服务，或设置 MONGODB_URI 连接 MongoDB")
    except HandoffError as exc:
        sys.exit(f"youthdesk: {exc}")


def _desks(settings: Settings, desk: str | None) -> set[str]:
    if desk is None:
        return {d.id for d in settings.desks}
    if desk not in {d.id for d in settings.desks}:
        sys.exit(f"youthdesk: 未知的服务台 {desk}")
    return descendants(settings, desk)


def _export(args: argparse.Namespace) -> None:
    from handoff.export import beijing_days, export_records, to_csv, to_jsonl

    settings = settings_from_args(args)
    desks = _desks(settings, args.desk)

    async def work(store: Store) -> str:
        start, end = beijing_days(args.first, args.last)
        records = await export_records(store, settings, desks, start, end, deidentify=args.deidentify)
        return to_csv(records) if args.format == "csv" else to_jsonl(records)

    text = _with_store(settings, work)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _report(args: argparse.Namespace) -> None:
    from handoff.report import ReportError, collect, write_report

    settings = settings_from_args(args)
    desks = _desks(settings, args.desk)
    scope = settings.desk(args.desk).name if args.desk else "全国12355青少年服务台网络"
    figures = _with_store(settings, lambda store: collect(store, settings, desks, args.period, scope))
    try:
        written = write_report(figures, Path(args.out))
    except ReportError as exc:
        sys.exit(f"youthdesk: {exc}")
    print(f"报告已生成：{written}")


def _retention(args: argparse.Namespace) -> None:
    from handoff.retention import run_retention

    settings = settings_from_args(args)
    result = _with_store(settings, lambda store: run_retention(store, settings, utcnow(), dry_run=args.dry_run))
    print("\n".join(["（演练，未改动数据）" if args.dry_run else "数据保存期限执行完毕", *result.lines()]))


def _early_warning(args: argparse.Namespace) -> None:
    from handoff.early_warning import raise_warnings

    settings = settings_from_args(args)
    alerts = _with_store(settings, lambda store: raise_warnings(store, settings, utcnow()))
    print(f"新发预警 {len(alerts)} 条")
    for alert in alerts:
        print(f"  [{alert.desk}] {alert.data['summary']}")
