"""研判预警: unusually many cases of one 案由 in one region alert provincial and national supervisors.

The test is a **Poisson exceedance**: for every (national category, prefecture) cell, the count of
the last ``window_days`` is compared with the mean count of the ``baseline_windows`` windows before
it; the cell alerts when P(X ≥ observed | Poisson(mean)) < ``alpha`` and at least ``min_count`` cases
were seen. The mean is floored (``baseline_floor``) so a cell with no history does not alert on two cases.

Why Poisson exceedance and not CUSUM or EWMA: the cells are many and sparse (a handful of cases a
week per category and prefecture), which is the Poisson regime; the test is stateless, so a daily
run recomputes everything from the stored cases and there is no accumulator to persist, reset or
repair after an outage; and the evidence reads plainly for a supervisor ("7 cases against about 1.2
a week; by chance less than once in a thousand"). CUSUM would catch small persistent rises a little
sooner, but needs per-cell state and a reset rule, and its statistic has no such reading. The cost:
a gradual drift is absorbed into the baseline; the monthly report's trend chart covers that.
``bench/early_warning.py`` measures the detection delay and false alerts on synthetic data.

The same spike does not alert twice: a cell that alerted within the last window stays quiet.
The gateway runs the scan on a schedule and pushes the alerts live (``handoff.early_warning_watch``).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from contract.alerts import Alert
from contract.config import Settings
from contract.data_config import EarlyWarningConfig
from contract.regions import region_label, region_name
from handoff.access import ancestors
from handoff.desks import CHINA
from handoff.export import national_categories, national_code
from store import alerts as stored_alerts
from store import early_warning as stored
from store import export as stored_export
from store.client import Store
from store.users import online_supervisor_ids

log = logging.getLogger("youthdesk.handoff.early_warning")

Cell = tuple[str, str]  # (national category code, prefecture region code)


@dataclass(frozen=True, slots=True)
class Exceedance:
    category: str
    region: str
    observed: int
    expected: float
    p_value: float
    baseline_counts: list[int]


def poisson_tail(observed: int, expected: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(expected)."""
    if observed <= 0:
        return 1.0
    term = math.exp(-expected)
    below = term
    for k in range(1, observed):
        term *= expected / k
        below += term
    return max(0.0, 1.0 - below)


def detect(current: dict[Cell, int], baseline: dict[Cell, list[int]], config: EarlyWarningConfig) -> list[Exceedance]:
    """The cells whose current count exceeds their baseline; ``baseline`` holds each cell's earlier window counts."""
    found = []
    for cell, observed in current.items():
        if observed < config.min_count:
            continue
        history = baseline.get(cell) or [0] * config.baseline_windows
        expected = max(config.baseline_floor, sum(history) / config.baseline_windows)
        p_value = poisson_tail(observed, expected)
        if p_value < config.alpha:
            found.append(Exceedance(cell[0], cell[1], observed, round(expected, 2), p_value, list(history)))
    return sorted(found, key=lambda item: item.p_value)


@dataclass(frozen=True, slots=True)
class CaseInCell:
    cell: Cell
    desk: str
    opened: datetime


async def cases_in_cells(store: Store, settings: Settings, start: datetime, end: datetime) -> list[CaseInCell]:
    """The cases opened in [start, end) with their cell: the national 案由 and the prefecture (the youth's when
    recorded, else the desk's), as the de-identified export places them.

    Read directly rather than through ``export_records``: the gateway runs the scan in its own process, and
    building and schema-validating every record of nine weeks costs about 13 ms a conversation (26 s for
    2,000 on this machine, against 0.9 s this way).
    """
    cases = await stored.cases_opened(store, [desk.id for desk in settings.desks], start, end)
    profiles = await stored_export.profiles_of_cases(store, [case.id for case in cases])
    found = []
    for case in cases:
        national = national_code(settings, case.classification)
        profile = profiles.get(case.id)
        region = (profile.region_code if profile else None) or settings.desk(case.desk).region_code
        if national and region:
            found.append(CaseInCell((national, region[:4] + "00"), case.desk, case.created_at))
    return found


async def scan(store: Store, settings: Settings, now: datetime) -> tuple[list[Exceedance], dict[Cell, str]]:
    """The exceedances at ``now`` and, per cell, the desk most of its current cases came from."""
    config = settings.data.early_warning
    window = timedelta(days=config.window_days)
    start = now - window * (config.baseline_windows + 1)
    current: Counter[Cell] = Counter()
    baseline: dict[Cell, list[int]] = {}
    desk_votes: dict[Cell, Counter[str]] = {}
    for case in await cases_in_cells(store, settings, start, now):
        age = int((now - case.opened) / window)  # 0 = the current window, 1.. = the baseline windows
        if age == 0:
            current[case.cell] += 1
            desk_votes.setdefault(case.cell, Counter())[case.desk] += 1
        elif age <= config.baseline_windows:
            baseline.setdefault(case.cell, [0] * config.baseline_windows)[age - 1] += 1
    exceedances = detect(dict(current), baseline, config)
    return exceedances, {cell: votes.most_common(1)[0][0] for cell, votes in desk_votes.items()}


def provincial_desk(settings: Settings, desk_id: str) -> str:
    """The desk's province (itself when provincial or above): provincial supervisors and everyone above see it."""
    for candidate in [desk_id, *ancestors(settings, desk_id)]:
        if settings.desk(candidate).level != "municipal":
            return candidate
    return desk_id


async def raise_warnings(store: Store, settings: Settings, now: datetime) -> list[Alert]:
    """Scan and raise one ``early_warning`` alert per new exceedance, with its evidence."""
    config = settings.data.early_warning
    exceedances, desk_of = await scan(store, settings, now)
    raised = []
    for exceedance in exceedances:
        quiet_since = now - timedelta(days=config.window_days)
        if await stored.warning_raised_since(store, exceedance.category, exceedance.region, quiet_since):
            continue
        desk = provincial_desk(settings, desk_of[(exceedance.category, exceedance.region)])
        national = [d.id for d in settings.desks if d.parent is None]
        recipients: list[str] = []
        for candidate in dict.fromkeys([desk, *national]):
            recipients += await online_supervisor_ids(store, candidate)
        data = asdict(exceedance) | {
            "category_name": national_categories().get(exceedance.category, exceedance.category),
            "window_days": config.window_days, "window_end": now.isoformat(), "test": "poisson_exceedance",
            "alpha": config.alpha,
            "region_name": region_name(exceedance.region),
            "summary": (f"近{config.window_days}天{region_label(exceedance.region)}“"
                        f"{national_categories().get(exceedance.category, exceedance.category)}”工单 "
                        f"{exceedance.observed} 件，前期平均每期 {exceedance.expected} 件，"
                        f"偶然出现的概率 {exceedance.p_value:.1e}")}
        # One id per cell and Beijing day: two gateway instances (or one and the command) scanning at once
        # store it once. Stored unpublished: ``EarlyWarningWatcher`` pushes it to the open consoles.
        alert = Alert(id=f"al_ew_{exceedance.category}_{exceedance.region}_{now.astimezone(CHINA):%Y%m%d}",
                      type="early_warning", conversation_id="", desk=desk, created_at=now,
                      recipients=list(dict.fromkeys(recipients)), data=data)
        if not await stored_alerts.insert_unpublished_alert(store, alert):
            continue
        log.warning("early warning %s/%s: %d against %.2f (p=%.1e)", exceedance.category, exceedance.region,
                    exceedance.observed, exceedance.expected, exceedance.p_value)
        raised.append(alert)
    return raised
