"""Typed app keys of the handoff package."""

from __future__ import annotations

from aiohttp import web

ENGINE = web.AppKey("handoff_engine", "HandoffEngine")
DEADLINES = web.AppKey("handoff_deadlines", "DeadlineWatcher")
CONSOLE_PRESENCE = web.AppKey("handoff_console_presence", "ConsolePresence")
TASKS = web.AppKey("handoff_tasks", "TaskWatcher")
EARLY_WARNINGS = web.AppKey("handoff_early_warnings", "EarlyWarningWatcher")
APPOINTMENT_REMINDERS = web.AppKey("handoff_appointment_reminders", "AppointmentReminders")
WORK_ORDERS = web.AppKey("handoff_work_orders", "WorkOrderSender")
