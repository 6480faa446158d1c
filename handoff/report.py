"""The monthly research report (研究报告): figures drawn from the unified export records, in Chinese, as HTML and PDF.

The report reads the de-identified records (``handoff.export``) and nothing else, so every figure in
it can be reproduced from the data a desk shares upward. Charts are drawn with matplotlib in the
WenQuanYi Micro Hei font (package fonts-wqy-microhei; without it Chinese labels would print as boxes,
so its absence is an error, not a fallback); WeasyPrint lays the HTML out as the PDF.
"""

from __future__ import annotations

import base64
import html
import io
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib import font_manager, rc_context
from matplotlib.figure import Figure

from contract.config import Settings
from contract.regions import region_label
from handoff.desks import CHINA
from handoff.disclosure import is_small, shown, suppress
from handoff.errors import Invalid
from handoff.export import export_records, national_categories
from handoff.stats import percentile
from store.client import Store

CJK_FONT = "WenQuanYi Micro Hei"
TREND_MONTHS = 6
AGE_BANDS = {"under_12": "12岁以下", "12_14": "12-14岁", "15_17": "15-17岁", "18_24": "18-24岁",
             "25_35": "25-35岁", "over_35": "35岁以上"}
CHANNELS = {"wechat": "微信公众号", "miniprogram": "微信小程序", "wecom-kf": "微信客服", "weibo": "微博私信",
            "widget": "合作平台嵌入"}
RISK_LEVELS = {0: "无明显风险", 1: "低风险", 2: "中风险", 3: "高风险"}
NOT_RECORDED = "未记录"


class ReportError(Exception):
    """The report cannot be made here (a missing font); the message says what to install."""


def cjk_font_path() -> str:
    """The installed WenQuanYi Micro Hei file, found through matplotlib's font manager."""
    try:
        return font_manager.findfont(font_manager.FontProperties(family=CJK_FONT), fallback_to_default=False)
    except ValueError:
        raise ReportError(f"缺少中文字体 {CJK_FONT}：请安装 fonts-wqy-microhei（make system-deps）后重试") from None


def month_bounds(period: str, back: int = 0) -> tuple[datetime, datetime]:
    """[first day, first day of the next month) of ``period`` (YYYY-MM, Beijing time) ``back`` months earlier."""
    try:
        first = datetime.strptime(period, "%Y-%m").replace(tzinfo=CHINA)
    except ValueError:
        raise Invalid("统计期应为 YYYY-MM，例如 2026-11") from None
    month_index = first.year * 12 + first.month - 1 - back
    start = first.replace(year=month_index // 12, month=month_index % 12 + 1)
    end = start.replace(year=(month_index + 1) // 12, month=(month_index + 1) % 12 + 1)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ReportFigures:
    period: str
    scope: str
    conversations: int
    cases: int
    by_category: dict[str, int]
    category_trend: dict[str, dict[str, int]]  # month -> national category name -> cases
    by_region: dict[str, int]
    by_age_band: dict[str, int]
    by_channel: dict[str, int]
    by_risk: dict[str, int]
    first_response_p50: float | None
    first_response_p90: float | None
    satisfaction_mean: float | None
    satisfaction_count: int
    referrals_by_agency: dict[str, int]
    # Counts below it are printed "<5" (handoff/disclosure.py); the figures themselves stay exact.
    small_count_threshold: int = 5


def _ordered(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _category(record: dict[str, Any]) -> str:
    code = record["case"]["category"]["national"]
    return national_categories().get(code, "未分类") if code else "未分类"


def figures_from(settings: Settings, period: str, scope: str, records: list[dict[str, Any]],
                 history: dict[str, list[dict[str, Any]]]) -> ReportFigures:
    """The report's numbers from the month's records and, per earlier month (YYYY-MM), that month's records."""
    cases = [record for record in records if record["case"]]
    agencies = {agency.code: agency.name for agency in settings.cases.agencies}
    response = [r["first_response_seconds"] for r in records if r["first_response_seconds"] is not None]
    scores = [record["satisfaction"] for record in records if record["satisfaction"] is not None]

    def region(record: dict[str, Any]) -> str:
        code = record["youth_profile"]["region_code"] or record["desk"]["region_code"]
        return region_label(code) or NOT_RECORDED

    return ReportFigures(
        period=period, scope=scope, conversations=len(records), cases=len(cases),
        by_category=_ordered(Counter(_category(record) for record in cases)),
        category_trend={month: dict(Counter(_category(r) for r in rows if r["case"]))
                        for month, rows in history.items()},
        by_region=_ordered(Counter(region(record) for record in cases)),
        by_age_band=_ordered(Counter(AGE_BANDS.get(record["youth_profile"]["age_band"] or "", NOT_RECORDED)
                                     for record in cases)),
        by_channel=_ordered(Counter(CHANNELS.get(record["channel"], record["channel"]) for record in records)),
        by_risk={RISK_LEVELS[level]: sum(1 for r in cases if r["case"]["risk"]["highest"] == level)
                 for level in range(4)},
        first_response_p50=percentile(response, 0.5), first_response_p90=percentile(response, 0.9),
        satisfaction_mean=round(statistics.fmean(scores), 2) if scores else None, satisfaction_count=len(scores),
        referrals_by_agency=_ordered(Counter(agencies.get(referral["agency"], referral["agency"])
                                             for record in cases for referral in record["case"]["referrals"])),
        small_count_threshold=settings.data.small_count_threshold,
    )


async def collect(store: Store, settings: Settings, desks: set[str], period: str, scope: str) -> ReportFigures:
    start, end = month_bounds(period)
    records = await export_records(store, settings, desks, start, end, deidentify=True)
    history: dict[str, list[dict[str, Any]]] = {}
    for back in range(TREND_MONTHS - 1, 0, -1):
        month_start, month_end = month_bounds(period, back)
        label = month_start.astimezone(CHINA).strftime("%Y-%m")
        history[label] = await export_records(store, settings, desks, month_start, month_end, deidentify=True)
    history[period] = records
    return figures_from(settings, period, scope, records, history)


# ----------------------------------------------------------------- drawing


def _png(draw: Callable[[Any], None]) -> str:
    # Figure without pyplot: no global figure registry, no display backend on a server.
    with rc_context({"font.family": font_manager.FontProperties(fname=cjk_font_path()).get_name(),
                     "axes.unicode_minus": False}):
        figure = Figure(figsize=(7.5, 3.4), dpi=110)
        draw(figure.subplots())
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def _bars(counts: dict[str, int], title: str, threshold: int) -> str:
    """Horizontal bars, each labelled with its printed figure; a suppressed cell draws no bar (its length
    would give the count away), only its ``<5``."""
    printed = suppress(counts, threshold)

    def draw(axes: Any) -> None:
        labels = list(counts)[::-1] or ["（无数据）"]
        lengths = [0 if printed[label].startswith(("<", "≥")) else counts[label] for label in labels] if counts else [0]
        bars = axes.barh(labels, lengths, color="#c0392b")
        if counts:
            axes.bar_label(bars, labels=[printed[label] for label in labels], padding=3, fontsize=8)
        axes.set_title(title)
        axes.set_xlabel("数量")
    return _png(draw)


def _trend(trend: dict[str, dict[str, int]], threshold: int) -> str:
    """The five commonest categories month by month; a month with a small count is a gap in its line."""
    totals: Counter[str] = Counter()
    for counts in trend.values():
        totals.update(counts)
    top = [name for name, _ in totals.most_common(5)]

    def draw(axes: Any) -> None:
        months = list(trend)
        for name in top:
            counts = [trend[month].get(name, 0) for month in months]
            axes.plot(months, [math.nan if is_small(n, threshold) else n for n in counts], marker="o", label=name)
        axes.set_title("主要案由近六个月趋势")
        axes.set_ylabel("工单数")
        axes.set_ylim(bottom=0)
        if top:
            axes.legend(fontsize=8)
    return _png(draw)


def _table(counts: dict[str, int], heading: str, threshold: int) -> str:
    total = sum(counts.values()) or 1
    printed = suppress(counts, threshold)

    def share(name: str) -> str:
        return "—" if printed[name] != str(counts[name]) else f"{100 * counts[name] / total:.1f}%"

    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{html.escape(printed[name])}</td><td>{share(name)}</td></tr>"
                   for name in counts) or '<tr><td colspan="3">本期无数据</td></tr>'
    return f"<table><tr><th>{heading}</th><th>数量</th><th>占比</th></tr>{rows}</table>"


def _seconds(value: float | None) -> str:
    return "无数据" if value is None else f"{value / 60:.1f} 分钟"


def render_html(figures: ReportFigures) -> str:
    year, month = figures.period.split("-")
    title = f"12355青少年服务台数据研究报告（{year}年{int(month)}月）"
    limit = figures.small_count_threshold

    def count(value: int) -> str:
        return html.escape(shown(value, limit))

    def bars(counts: dict[str, int], chart_title: str) -> str:
        return f'<img alt="{chart_title}" src="data:image/png;base64,{_bars(counts, chart_title, limit)}">'

    def table(counts: dict[str, int], heading: str) -> str:
        return _table(counts, heading, limit)

    satisfaction = ("无评价" if figures.satisfaction_mean is None
                    else f"{figures.satisfaction_mean} 分（5 分制，{count(figures.satisfaction_count)} 份评价）")
    high = figures.by_risk["高风险"] + figures.by_risk["中风险"]
    trend = f'<img alt="案由趋势" src="data:image/png;base64,{_trend(figures.category_trend, limit)}">'
    sections = [
        ("一、总体情况", f"<p>本期共受理青少年来访会话 <b>{count(figures.conversations)}</b> 个，转人工形成工单 "
                      f"<b>{count(figures.cases)}</b> 件，其中中高风险工单 <b>{count(high)}</b> 件。</p>"),
        ("二、案由分布与趋势", bars(figures.by_category, "本期案由分布") + trend
         + table(figures.by_category, "案由（全国统一代码）")),
        ("三、地区分布", table(figures.by_region, "地区（GB/T 2260，地级）")),
        ("四、年龄段分布", bars(figures.by_age_band, "年龄段分布")
         + "<p>年龄段由咨询员据来访者自述记录，未记录者不影响服务。</p>"),
        ("五、来访渠道", bars(figures.by_channel, "来访渠道") + table(figures.by_channel, "渠道")),
        ("六、响应时效", f"<p>从进入排队到咨询员首次回复：中位数 {_seconds(figures.first_response_p50)}，"
                      f"90% 分位 {_seconds(figures.first_response_p90)}。</p>"),
        ("七、风险构成", bars(figures.by_risk, "工单最高风险等级") + table(figures.by_risk, "风险等级")),
        ("八、满意度", f"<p>来访者满意度平均 {satisfaction}。</p>"),
        ("九、转介机构", table(figures.referrals_by_agency, "转介机构")),
    ]
    body = "".join(f"<h2>{heading}</h2>{content}" for heading, content in sections)
    generated = datetime.now(CHINA).strftime("%Y年%m月%d日")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>
@page {{ size: A4; margin: 2cm 1.8cm; @bottom-center {{ content: "第 " counter(page) " 页"; font-size: 9pt; }} }}
body {{ font-family: "{CJK_FONT}", sans-serif; font-size: 11pt; line-height: 1.6; color: #222; }}
h1 {{ text-align: center; font-size: 18pt; }} h2 {{ font-size: 13pt; border-bottom: 1px solid #999; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.5em 0; }}
td, th {{ border: 1px solid #999; padding: 2px 6px; }} img {{ width: 100%; }}
.meta {{ text-align: center; color: #555; }} .note {{ font-size: 9pt; color: #555; }}
</style></head><body>
<h1>{title}</h1>
<p class="meta">统计范围：{html.escape(figures.scope)}　生成日期：{generated}</p>
{body}
<h2>附注</h2>
<p class="note">本报告依据去标识化的统一数据字段（导出格式 1.0）统计，不含任何可识别青少年身份的信息；
时间以北京时间计；案由采用全国统一代码，各服务台扩展分类已映射至全国代码。
为防止通过少数个案识别青少年，1 至 {limit - 1} 件的数字一律显示为“&lt;{limit}”，图中不画其长度，趋势线在该月断开；
同一表格仅有一格被隐藏时，另隐藏一格（显示为“≥{limit}”），以免由合计反推；被隐藏格不显示占比。</p>
</body></html>
"""


def write_report(figures: ReportFigures, out: Path) -> Path:
    """HTML for ``.html``, else a PDF laid out by WeasyPrint."""
    page = render_html(figures)
    if out.suffix.lower() in (".html", ".htm"):
        out.write_text(page, encoding="utf-8")
        return out
    from weasyprint import HTML  # heavy (pango, cairo): loaded only when a PDF is asked for

    HTML(string=page).write_pdf(out)
    return out
