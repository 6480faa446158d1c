"""The handoff engine's settings (``[handoff]``): sessions, response times per risk level, routing,
tasks, floods, wellbeing, alert escalation and the pager."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contract.escalation import AlertEscalationConfig, PagerConfig


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeadlineConfig(_Settings):
    """Response-time rules (回复时效) for one risk level, in seconds."""

    first_response_seconds: int = Field(gt=0)  # from queueing to the first counsellor message
    reply_seconds: int = Field(gt=0)  # from a youth message to the owner's answer
    requeue_after_seconds: int = Field(gt=0)  # after a breach: offer the conversation back to the queue


def _default_deadlines() -> dict[str, DeadlineConfig]:
    return {
        "0": DeadlineConfig(first_response_seconds=1800, reply_seconds=900, requeue_after_seconds=900),
        "1": DeadlineConfig(first_response_seconds=900, reply_seconds=600, requeue_after_seconds=600),
        "2": DeadlineConfig(first_response_seconds=300, reply_seconds=180, requeue_after_seconds=300),
        "3": DeadlineConfig(first_response_seconds=60, reply_seconds=60, requeue_after_seconds=120),
    }


class CannedResponse(_Settings):
    id: str
    title: str
    text: str  # placeholders: {name} {counsellor} {desk}


class HandoffConfig(_Settings):
    """The handoff engine: sessions, deadlines per risk level ("0".."3"), routing by skill."""

    session_idle_minutes: int = Field(default=30, gt=0)
    session_max_hours: int = Field(default=12, gt=0)
    # A user whose last console WebSocket closed goes "away" after this long (a reload stays online).
    console_away_after_seconds: float = Field(default=60, gt=0)
    deadlines: dict[str, DeadlineConfig] = Field(default_factory=_default_deadlines)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    # A youth at risk level >= 2 silent this long while waiting/assigned creates an outreach task.
    outreach_after_minutes: float = Field(default=10, gt=0)
    # Conversation topic / risk category -> the counsellor skill it needs.
    topic_skills: dict[str, str] = Field(default_factory=dict)
    # Rough time one conversation takes a counsellor; used for the youth's expected wait.
    expected_handle_seconds: int = Field(default=600, gt=0)
    # The spell after each working out of a desk's places (``handoff.place_notices``): the first queue
    # change after it is worked out at once, the changes during it together at its end.
    place_notice_seconds: float = Field(default=5, ge=0)
    # How often the deadline watchers look: the slack on every window, so a level-3 overflow comes at most
    # this long after its window (the tick reads only what is due, so half a second costs little).
    tick_seconds: float = Field(default=0.5, gt=0)
    canned_responses: list[CannedResponse] = Field(default_factory=list)
    # Anonymous widget conversations at risk level >= 2 from one source: more than ``flood_threshold``
    # within ``flood_window_seconds`` are grouped into one "possible flood" item for a supervisor.
    flood_threshold: int = Field(default=3, ge=1)
    flood_window_seconds: float = Field(default=600, gt=0)
    # Outreach tasks (a silent youth at risk) are due this long after they are created.
    outreach_task_due_minutes: float = Field(default=30, gt=0)
    # A task's assignee is reminded this long before it is due.
    task_reminder_minutes: float = Field(default=60, ge=0)
    # Counsellor wellbeing: after this many level-3 conversations in a row, auto-assignment and
    # "take next" give the next level 3 to a colleague who can take it.
    consecutive_level3_cap: int = Field(default=3, ge=1)
    alert_escalation: AlertEscalationConfig = Field(default_factory=AlertEscalationConfig)
    pager: PagerConfig = Field(default_factory=PagerConfig)

    def deadline(self, risk_level: int) -> DeadlineConfig:
        return self.deadlines.get(str(risk_level)) or _default_deadlines()[str(risk_level)]
