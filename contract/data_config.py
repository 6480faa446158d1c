"""Settings of shared data: the national 案由 codes, retention, early warning (``[data]`` in the TOML file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# 网络安全法 art. 21: network logs are kept for no less than six months.
MIN_LOG_RETENTION_DAYS = 183


class RetentionConfig(_Strict):
    """How long each class of data is kept, in days, before ``youthdesk retention run`` removes or anonymises it.

    Mandatory-report records (强制报告) are never purged, and cases under legal hold are skipped.
    """

    # Message text and media of closed conversations (replaced by nothing; counts and times stay).
    messages_days: int = Field(default=365, gt=0)
    # Free text, assessment notes and youth profile of closed cases (category, risk and times stay).
    cases_days: int = Field(default=3 * 365, gt=0)
    # The audit log of access to minors' data (the service's access log).
    audit_days: int = Field(default=3 * 365, ge=MIN_LOG_RETENTION_DAYS)


class EarlyWarningConfig(_Strict):
    """研判预警: how unusual a week's count of one category in one region must be to alert supervisors."""

    window_days: int = Field(default=7, gt=0)
    baseline_windows: int = Field(default=8, ge=2)
    # The Poisson tail probability below which a count is an exceedance.
    alpha: float = Field(default=0.001, gt=0, lt=0.5)
    min_count: int = Field(default=3, ge=1)
    # The smallest expected count assumed, so that a cell with no history does not alert on a pair of cases.
    baseline_floor: float = Field(default=0.5, gt=0)
    # The gateway runs the detector itself this often (0: only ``youthdesk early-warning run`` does). Daily, as
    # the test is designed and benchmarked (a 7-day window); on the embedded store a scan costs about 0.4 ms
    # per case of the nine weeks it reads, in the gateway's process.
    run_every_minutes: int = Field(default=1440, ge=0)
    # How often the gateway pushes early-warning alerts stored but not yet published (by its own run or by
    # the command run against the same MongoDB) to the supervisors' open consoles.
    poll_seconds: float = Field(default=30, gt=0)


class DataConfig(_Strict):
    """Shared data: the national 案由 code each desk category maps to, retention, early warning."""

    # Desk taxonomy code -> national category code (contract/export_schema.json lists the national codes).
    # Unmapped codes are exported under their nearest mapped parent, else as "99" (其他).
    national_categories: dict[str, str] = Field(default_factory=dict)
    # Counts from 1 to this minus one are printed as "<5" in the figures that leave a desk (handoff/disclosure.py).
    small_count_threshold: int = Field(default=5, ge=1)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    early_warning: EarlyWarningConfig = Field(default_factory=EarlyWarningConfig)
