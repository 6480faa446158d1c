"""Typed settings: a TOML file (``YOUTHDESK_CONFIG``) overlaid by environment variables.

Secrets never need to live in a file under git: any string value in the TOML file may be
written ``"env:NAME"`` and is then read from the environment variable ``NAME``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.client_address import parse_networks
from contract.data_config import DataConfig
from contract.escalation import (
    LeaveMessageWindows,
    OnCallEntry,
    OverflowWindows,
)
from contract.handoff_config import HandoffConfig
from contract.work_orders import WorkOrdersConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG_PATH = PROJECT_ROOT / "config" / "demo.toml"

Environment = Literal["demo", "development", "test", "production"]
DeskLevel = Literal["national", "regional", "provincial", "municipal"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeskConfig(_Strict):
    id: str
    name: str
    level: DeskLevel = "municipal"
    parent: str | None = None
    area: str = ""
    # The GB/T 2260 administrative division code of the desk's area (e.g. 440300 for Shenzhen): the
    # region a case counts towards in exports and early warning when the counsellor recorded none.
    region_code: str = Field(default="", pattern=r"^(\d{6})?$")
    # Opening hours in the desk's local time (UTC+8), "HH:MM-HH:MM"; "00:00-24:00" means always open.
    hours: str = "00:00-24:00"
    assignment: Literal["pull", "auto"] = "pull"
    after_hours_message: str = (
        "现在不是值班时间。你可以留言，值班老师上班后会第一时间回复你。如遇紧急危险，请立即拨打110或120。"
    )
    overflow: OverflowWindows = Field(default_factory=OverflowWindows)  # unclaimed risk goes to the desk above
    leave_message: LeaveMessageWindows = Field(default_factory=LeaveMessageWindows)  # nobody free: 留言
    on_call: list[OnCallEntry] = Field(default_factory=list)  # paged when a level-3 alert stays unacknowledged


class ChannelAccountConfig(_Strict):
    """One account on one platform, feeding one desk.

    ``id`` is what the platform puts in the webhook URL: the appid for WeChat and mini-programs,
    the corp id for WeCom customer service, the account uid for Weibo, the partner id for the widget,
    the bot's AppID for QQ, the client key for Douyin, the partner id for the partner API and the
    call centre's id for the phone hotline.
    """

    platform: Literal["wechat", "miniprogram", "wecom-kf", "weibo", "qq", "douyin", "partner-api", "hotline"]
    id: str
    desk: str
    name: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    secret: str = ""
    # wechat/miniprogram: "plain", "compatible" or "safe"; mini-program push may also be JSON.
    mode: Literal["plain", "compatible", "safe"] = "plain"
    push_format: Literal["xml", "json"] = "xml"
    welcome: str = "你好，这里是12355青少年服务台。有什么想说的，都可以告诉我们。"
    api_base: str = ""
    # partner-api: where replies are pushed (signed like the partner's own requests); hotline: the call
    # centre's SMS endpoint (text to a caller); in demo/test ``api_base`` overrides it with the local stand-in.
    webhook_url: str = ""
    # partner-api and hotline: inbound requests allowed per minute (burst: the same number).
    requests_per_minute: int = Field(default=600, ge=1)

    @model_validator(mode="after")
    def _aes_key_usable(self) -> ChannelAccountConfig:
        """WeChat pushes in compatible/safe mode (and every WeCom callback) need a valid EncodingAESKey."""
        encrypted = self.platform == "wecom-kf" or (self.platform != "weibo" and self.mode != "plain")
        if encrypted and not self.encoding_aes_key:
            raise ValueError(f"encoding_aes_key: required for {self.platform} {self.id} (mode {self.mode})")
        if self.encoding_aes_key:
            try:
                key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
            except binascii.Error:
                key = b""
            if len(self.encoding_aes_key) != 43 or len(key) != 32:
                raise ValueError("encoding_aes_key: must be the 43-character key from the platform console")
        return self


class PartnerConfig(_Strict):
    """A partner platform that embeds the widget."""

    id: str
    name: str
    secret: str
    desk: str
    origins: list[str] = Field(default_factory=list)
    anonymous_allowed: bool = True
    # New widget conversations this partner may start per ``widget_new_conversation_window_seconds``,
    # all addresses together: a distributed flood stops here instead of in the counsellors' queue.
    new_conversations_per_window: int = Field(default=300, ge=1)


class ServiceConfig(_Strict):
    env: Environment = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = ""
    mongodb_uri: str = ""
    mongodb_database: str = "youthdesk"
    redis_url: str = ""
    # Fernet key (urlsafe base64, 32 bytes) protecting minors' identifiers, messages and case notes at rest.
    data_key: str = ""
    # Keys replaced by ``data_key``, comma-separated, newest first: still read until ``youthdesk keys rotate``
    # has re-encrypted everything; the last one (the first key ever used) also keys the blind indexes.
    previous_data_keys: str = ""
    log_json: bool = False
    # Files the service keeps itself (widget image uploads, encrypted): relative to the working directory.
    data_dir: str = ".youthdesk"
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    timestamp_window_seconds: int = Field(default=300, gt=0)
    # A connection that has not sent a whole request (a new one, an idle keep-alive one, or one whose
    # header or body trickles in) is closed after this long, so held sockets cannot pile up.
    http_idle_timeout_seconds: float = Field(default=10.0, gt=0)
    # Open widget sockets per client address, authenticated or not (a school behind one NAT needs a few).
    widget_sockets_per_ip: int = Field(default=20, ge=1)
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; empty = none
    # (contract/client_address.py). List only your own proxies: a listed peer can claim any address.
    trusted_proxies: list[str] = Field(default_factory=list)
    # New widget conversations one client address may start per window (a school NAT needs a few).
    widget_new_conversations_per_ip: int = Field(default=10, ge=1)
    widget_new_conversation_window_seconds: float = Field(default=600, gt=0)
    delivery_workers: int = Field(default=4, ge=1, le=64)
    delivery_max_attempts: int = Field(default=5, ge=1, le=50)
    delivery_backoff_seconds: float = Field(default=1.0, gt=0)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    # A claimed reply whose worker died (a crash mid-delivery) goes out again after this long; longer
    # than any delivery attempt (``delivery_timeout_seconds``), or a slow send would be sent twice.
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # Ordinary conversations routed (triaged, handed off) at once, and as many urgent ones besides; the
    # rest wait in the stored backlog (gateway.routing: urgent first, ordinary ones in the loop's spare time).
    routing_workers: int = Field(default=8, ge=1, le=256)
    # Platform webhooks worked on at once per process; the rest wait, parked, in arrival order
    # (service/admission.py: a saturated loop's turns stay short, so an alert keeps its pace).
    webhook_concurrency: int = Field(default=16, ge=1, le=1024)
    rasa_url: str = ""
    rasa_token: str = ""
    rasa_timeout_seconds: float = Field(default=2.0, gt=0)
    # Triage (risk detector + bot) routes every stored youth message. Only channel-level tests turn it
    # off; production refuses that, since an unrouted message would never reach a human.
    triage_enabled: bool = True
    # The privacy notice on a contact's first message (contract/privacy_notice.toml). Only tests that
    # count outbound messages turn it off; production refuses that.
    privacy_notice_enabled: bool = True

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> ServiceConfig:
        if self.delivery_lease_seconds <= self.delivery_timeout_seconds:
            raise ValueError("delivery_lease_seconds: must be longer than delivery_timeout_seconds")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value


class TaxonomyNode(_Strict):
    """One 案由 (case classification) node; leaves are what a case is classified as."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    children: list[TaxonomyNode] = Field(default_factory=list)

    def codes(self) -> list[str]:
        return [self.code, *(code for child in self.children for code in child.codes())]


class Agency(_Strict):
    """A referral (转介) target: 110, 120, 12345, schools, guardians, courts, …"""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)


class CasesConfig(_Strict):
    """Case management: the 案由 taxonomy and the agencies a case can be referred to."""

    taxonomy: list[TaxonomyNode] = Field(default_factory=list)
    agencies: list[Agency] = Field(default_factory=list)

    def classification_codes(self) -> set[str]:
        return {code for node in self.taxonomy for code in node.codes()}

    def agency_codes(self) -> set[str]:
        return {agency.code for agency in self.agencies}


class Settings(_Strict):
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    cases: CasesConfig = Field(default_factory=CasesConfig)
    desks: list[DeskConfig] = Field(default_factory=list)
    accounts: list[ChannelAccountConfig] = Field(default_factory=list)
    partners: list[PartnerConfig] = Field(default_factory=list)
    handoff: HandoffConfig = Field(default_factory=HandoffConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    work_orders: WorkOrdersConfig = Field(default_factory=WorkOrdersConfig)

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        desk_ids = [desk.id for desk in self.desks]
        if len(set(desk_ids)) != len(desk_ids):
            raise ValueError("desks: desk ids must be unique")
        for index, desk in enumerate(self.desks):
            if desk.parent is not None and desk.parent not in desk_ids:
                raise ValueError(f"desks.{index}.parent: unknown desk {desk.parent!r}")
        seen: set[tuple[str, str]] = set()
        for index, account in enumerate(self.accounts):
            if account.desk not in desk_ids:
                raise ValueError(f"accounts.{index}.desk: unknown desk {account.desk!r}")
            key = (account.platform, account.id)
            if key in seen:
                raise ValueError(f"accounts.{index}.id: duplicate {account.platform} account {account.id!r}")
            seen.add(key)
        for index, partner in enumerate(self.partners):
            if partner.desk not in desk_ids:
                raise ValueError(f"partners.{index}.desk: unknown desk {partner.desk!r}")
        for index, endpoint in enumerate(self.work_orders.endpoints):
            if endpoint.agency not in self.cases.agency_codes():
                raise ValueError(f"work_orders.endpoints.{index}.agency: unknown agency {endpoint.agency!r}")
        return self

    def desk(self, desk_id: str) -> DeskConfig:
        for desk in self.desks:
            if desk.id == desk_id:
                return desk
        raise KeyError(desk_id)

    def accounts_for(self, platform: str) -> list[ChannelAccountConfig]:
        return [account for account in self.accounts if account.platform == platform]

    def desk_for_account(self, platform: str, account_id: str) -> str:
        """The desk a channel account (or, for the widget, a partner) feeds."""
        if platform == "widget":
            partner = self.partner(account_id)
            if partner is not None:
                return partner.desk
        for account in self.accounts:
            if account.platform == platform and account.id == account_id:
                return account.desk
        raise KeyError(f"{platform}:{account_id}")

    def partner(self, partner_id: str) -> PartnerConfig | None:
        return next((p for p in self.partners if p.id == partner_id), None)


_ENV_OVERRIDES: dict[str, str] = {
    "YOUTHDESK_ENV": "env",
    "YOUTHDESK_HOST": "host",
    "YOUTHDESK_PORT": "port",
    "YOUTHDESK_PUBLIC_URL": "public_url",
    "MONGODB_URI": "mongodb_uri",
    "MONGODB_DATABASE": "mongodb_database",
    "REDIS_URL": "redis_url",
    "YOUTHDESK_DATA_KEY": "data_key",
    "YOUTHDESK_PREVIOUS_DATA_KEYS": "previous_data_keys",
    "YOUTHDESK_LOG_JSON": "log_json",
    "RASA_URL": "rasa_url",
    "RASA_TOKEN": "rasa_token",
}


def _resolve_env_references(value: Any, path: str, environ: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _resolve_env_references(item, f"{path}.{key}" if path else key, environ)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_env_references(item, f"{path}.{i}", environ) for i, item in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in environ:
            raise ConfigError(f"{path}: environment variable {name} is not set")
        return environ[name]
    return value


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}")
    return "; ".join(lines)


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load settings from ``path`` (or ``YOUTHDESK_CONFIG``) and the environment.

    Raises ConfigError with a message naming the field when anything is wrong.
    """
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get("YOUTHDESK_CONFIG")
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    raw = _resolve_env_references(raw, "", environ)
    service = dict(raw.get("service", {}))
    for variable, field in _ENV_OVERRIDES.items():
        if environ.get(variable):
            service[field] = environ[variable]
    raw["service"] = service
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    if settings.service.env == "production":
        check_production_ready(settings)
    return settings


def _demo_secrets() -> set[str]:
    if not DEMO_CONFIG_PATH.exists():
        return set()
    demo = tomllib.loads(DEMO_CONFIG_PATH.read_text(encoding="utf-8"))
    values = {demo.get("service", {}).get("data_key", "")}
    entries = [*demo.get("accounts", []), *demo.get("partners", []),
               *demo.get("work_orders", {}).get("endpoints", [])]
    for entry in entries:
        values.update(entry.get(field, "") for field in ("token", "encoding_aes_key", "secret"))
    return {value for value in values if value}


def check_production_ready(settings: Settings) -> None:
    """Refuse demo secrets, missing keys and stand-in APIs in production."""
    demo = _demo_secrets()
    if not settings.service.data_key:
        raise ConfigError("service.data_key: required in production (set YOUTHDESK_DATA_KEY)")
    if settings.service.data_key in demo:
        raise ConfigError("service.data_key: the demo key must not be used in production")
    if not settings.service.triage_enabled:
        raise ConfigError("service.triage_enabled: triage cannot be switched off in production")
    if not settings.service.privacy_notice_enabled:
        raise ConfigError("service.privacy_notice_enabled: youth must be shown the privacy notice in production")
    if not settings.service.mongodb_uri:
        raise ConfigError("service.mongodb_uri: production needs a real MongoDB (set MONGODB_URI)")
    for index, account in enumerate(settings.accounts):
        for field in ("token", "encoding_aes_key", "secret"):
            if getattr(account, field) in demo:
                raise ConfigError(f"accounts.{index}.{field}: demo secret refused in production")
        if account.api_base:
            raise ConfigError(f"accounts.{index}.api_base: stand-in API base refused in production")
    for index, partner in enumerate(settings.partners):
        if partner.secret in demo:
            raise ConfigError(f"partners.{index}.secret: demo secret refused in production")
    for index, endpoint in enumerate(settings.work_orders.endpoints):
        if endpoint.url == "standin" or endpoint.secret in demo:
            raise ConfigError(f"work_orders.endpoints.{index}: stand-in or demo secret refused in production")
    if settings.handoff.pager.provider != "none" and "standin" in (settings.handoff.pager.provider,
                                                                     settings.handoff.pager.endpoint):
        raise ConfigError("handoff.pager: the stand-in pager is refused in production (provider = \"aliyun\")")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Load --config, else YOUTHDESK_CONFIG, else the shipped demo configuration."""
    path = args.config or os.environ.get("YOUTHDESK_CONFIG") or DEMO_CONFIG_PATH
    try:
        return load_settings(Path(path))
    except ConfigError as exc:
        sys.exit(f"youthdesk: configuration error: {exc}")
