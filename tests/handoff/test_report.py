"""The monthly research report: figures from the unified records, a real PDF with Chinese text, a clear font error."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest

from contract.config import Settings
from handoff import report
from handoff.report import ReportError, collect, month_bounds, render_html, write_report
from store.client import Store
from tests.handoff.data_support import add_case, store  # noqa: F401 - the fixture

NOV = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


async def _november(store: Store) -> None:  # noqa: F811
    await add_case(store, NOV, category="psych.study", platform="wechat", score=5, first_reply_seconds=120,
                   profile={"age_band": "15_17", "region_code": "440305"}, referrals=["school"])
    await add_case(store, NOV, desk="sz", category="crisis.suicide", risk=3, platform="weibo", score=3,
                   first_reply_seconds=60)
    await add_case(store, datetime(2026, 10, 5, tzinfo=UTC), category="crisis.self_harm")  # October: trend only
    await add_case(store, datetime(2026, 10, 31, 17, 0, tzinfo=UTC))  # 01:00 on 1 November in Beijing


def test_months_are_beijing_months() -> None:
    assert month_bounds("2026-11") == (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
    assert month_bounds("2026-01", back=1)[0] == datetime(2025, 11, 30, 16, tzinfo=UTC)


async def test_figures_come_from_the_months_records(store: Store, settings: Settings) -> None:  # noqa: F811
    await _november(store)
    figures = await collect(store, settings, {d.id for d in settings.desks}, "2026-11", "全国")
    assert figures.conversations == 3 and figures.cases == 3
    assert figures.by_category == {"学业与发展": 2, "自杀与自伤风险": 1}
    assert figures.category_trend["2026-10"] == {"自杀与自伤风险": 1}
    assert figures.by_risk["高风险"] == 1
    assert figures.by_channel == {"微信公众号": 2, "微博私信": 1}
    assert figures.by_age_band == {"未记录": 2, "15-17岁": 1}
    assert figures.first_response_p50 == 60 and figures.first_response_p90 == 120
    assert figures.satisfaction_mean == 4 and figures.referrals_by_agency == {"学校": 1}
    assert "深圳市（440300）" in figures.by_region


async def test_the_pdf_is_rendered_with_its_chinese_title(store: Store, settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    await _november(store)
    figures = await collect(store, settings, {d.id for d in settings.desks}, "2026-11", "全国")
    pdf = write_report(figures, tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and 20_000 < pdf.stat().st_size < 5_000_000
    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) >= 1
    text = "".join(page.extract_text() for page in reader.pages)
    assert "12355青少年服务台数据研究报告（2026年11月）" in text.replace(" ", "")
    assert "案由分布与趋势" in text and "学业与发展" in text
    html = write_report(figures, tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5


async def test_small_counts_are_printed_as_less_than_five(store: Store, settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    await _november(store)
    figures = await collect(store, settings, {d.id for d in settings.desks}, "2026-11", "全国")
    figures = replace(figures, by_region={"深圳市（440300）": 12, "广州市（440100）": 1, "广东省（440000）": 7})
    page = render_html(figures)
    assert "本期共受理青少年来访会话 <b>&lt;5</b> 个" in page  # three conversations
    assert "<td>学业与发展</td><td>&lt;5</td><td>—</td>" in page  # two cases, no share printed
    assert "<td>深圳市（440300）</td><td>12</td><td>60.0%</td>" in page
    assert "<td>广州市（440100）</td><td>&lt;5</td><td>—</td>" in page
    assert "<td>广东省（440000）</td><td>≥5</td><td>—</td>" in page  # else 20 - 12 - 7 gives the 1 back
    exact = render_html(replace(figures, small_count_threshold=1))  # suppression off
    assert "<td>学业与发展</td><td>2</td><td>66.7%</td>" in exact
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(write_report(figures, tmp_path / "r.pdf")).pages)
    assert "<5" in pdf_text


def test_a_missing_cjk_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object, **kwargs: object) -> str:
        raise ValueError("no font")

    monkeypatch.setattr(report.font_manager, "findfont", missing)
    with pytest.raises(ReportError, match="fonts-wqy-microhei"):
        report.cjk_font_path()
