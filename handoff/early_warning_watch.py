"""The gateway's early-warning task: run the detector on a schedule, push stored warnings to open consoles.

Why the gateway runs the detector itself rather than only picking up what the command stored: on the
embedded store (the default) ``youthdesk early-warning run`` cannot run beside the service at all
(one process owns the store file), so a warning would wait for a restart. Why it still polls the store:
with MongoDB the command can run from cron beside the service, and its alerts must reach the open
consoles too. So both paths store the alert unpublished (``store.alerts.insert_unpublished_alert``)
and one step publishes whatever is stored and unpublished as ``alert.raised``, the event every console
already listens for; the claim is atomic, so with several gateway instances each alert is published
once, and the alert's id (cell and Beijing day) keeps two scans from storing it twice.

``run_every_minutes = 0`` leaves the detector to the command; publishing still runs every
``poll_seconds``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contract.alerts import Alert
from contract.models import Event
from handoff.context import HandoffContext
from handoff.early_warning import raise_warnings
from handoff.ticker import Ticker
from store import alerts as stored


class EarlyWarningWatcher(Ticker):
    name = "early-warning"

    def __init__(self, context: HandoffContext) -> None:
        super().__init__(context)
        self._last_scan: datetime | None = None

    def interval(self) -> float:
        return self.context.settings.data.early_warning.poll_seconds

    def _scan_due(self, now: datetime) -> bool:
        every = self.context.settings.data.early_warning.run_every_minutes
        return every > 0 and (self._last_scan is None or now - self._last_scan >= timedelta(minutes=every))

    async def tick(self) -> list[Alert]:
        """Scan when due, then publish every stored, unpublished warning; returns the ones published."""
        now = self.context.now()
        if self._scan_due(now):
            self._last_scan = now
            await raise_warnings(self.context.store, self.context.settings, now)
        published = await stored.claim_unpublished_alerts(self.context.store)
        for alert in published:
            await self.context.stream.record_event(Event(
                type="alert.raised", conversation_id=alert.conversation_id or None, desk=alert.desk,
                data={"alert": alert.public()}))
        return published
