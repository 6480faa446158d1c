"""研判预警: the Poisson tail, the detector's rules, and alerts raised once for provincial and national supervisors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from contract.config import Settings
from contract.data_config import EarlyWarningConfig
from handoff.early_warning import detect, poisson_tail, provincial_desk, raise_warnings
from store import alerts as stored_alerts
from store.client import Store
from tests.handoff.data_support import add_case, store  # noqa: F401 - the fixture

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
CONFIG = EarlyWarningConfig()


def test_poisson_tail_matches_the_closed_form() -> None:
    assert poisson_tail(0, 2.0) == 1.0
    assert poisson_tail(1, 2.0) == pytest.approx(1 - math.exp(-2))
    assert poisson_tail(3, 1.0) == pytest.approx(1 - math.exp(-1) * (1 + 1 + 0.5))


def test_a_spike_alerts_and_ordinary_variation_does_not() -> None:
    history = [1, 0, 2, 1, 1, 0, 1, 2]  # about one a week
    found = detect({("06", "440300"): 9, ("01", "440300"): 3}, {("06", "440300"): history,
                                                               ("01", "440300"): history}, CONFIG)
    assert [(f.category, f.observed, f.expected) for f in found] == [("06", 9, 1.0)]
    assert found[0].p_value < CONFIG.alpha


def test_a_cell_without_history_needs_more_than_a_pair_of_cases() -> None:
    assert detect({("08", "440300"): 2}, {}, CONFIG) == []  # below min_count
    assert detect({("08", "440300"): 3}, {}, CONFIG) == []  # floor 0.5: P(X>=3) ~ 0.014
    assert len(detect({("08", "440300"): 5}, {}, CONFIG)) == 1  # P(X>=5 | 0.5) ~ 0.00017


def test_alerts_go_to_the_province_of_a_municipal_desk(settings: Settings) -> None:
    assert provincial_desk(settings, "sz") == "gd"
    assert provincial_desk(settings, "gd") == "gd"


async def test_a_bullying_spike_in_shenzhen_raises_one_alert_with_evidence(store: Store, settings: Settings) -> None:  # noqa: F811
    for week in range(1, 9):  # one case a week over the baseline
        await add_case(store, NOW - timedelta(days=7 * week + 2), desk="sz", category="legal.bullying")
    for day in range(8):  # eight this week
        await add_case(store, NOW - timedelta(days=day % 6, hours=1), desk="sz", category="legal.bullying")
    await add_case(store, NOW - timedelta(days=1), desk="sz", category="psych.study")  # ordinary
    raised = await raise_warnings(store, settings, NOW)
    assert len(raised) == 1
    alert = raised[0]
    assert alert.type == "early_warning" and alert.desk == "gd"
    assert alert.data["category"] == "06" and alert.data["region"] == "440300"
    assert alert.data["observed"] == 8 and alert.data["expected"] == 1.0
    assert alert.data["baseline_counts"] == [1] * 8 and alert.data["test"] == "poisson_exceedance"
    assert "校园欺凌" in alert.data["summary"]
    stored = await stored_alerts.alerts_on_desks(store, {"gd"}, "open", 10)
    assert [a.id for a in stored] == [alert.id]
    # The next day's run sees the same spike: no second alert within the window.
    assert await raise_warnings(store, settings, NOW + timedelta(days=1)) == []
