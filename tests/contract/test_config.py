"""Settings: clear errors that name the field; production refuses demo secrets."""

from __future__ import annotations

import pytest

from contract.config import DEMO_CONFIG_PATH, ConfigError, check_production_ready, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "youthdesk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_loads():
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    assert settings.service.env == "demo"
    assert {a.platform for a in settings.accounts} == {"wechat", "miniprogram", "wecom-kf", "weibo", "qq", "douyin",
                                                       "partner-api", "hotline"}
    assert settings.desk_for_account("widget", "demo-video") == "sz"


def test_bad_port_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"service\.port"):
        load_settings(write(tmp_path, "[service]\nport = 99999\n"), environ={})


def test_unknown_desk_reference_names_the_account(tmp_path):
    text = '[[desks]]\nid = "a"\nname = "A"\n[[accounts]]\nplatform = "wechat"\nid = "wx1"\ndesk = "nowhere"\n'
    with pytest.raises(ConfigError, match=r"accounts\.0\.desk: unknown desk 'nowhere'"):
        load_settings(write(tmp_path, text), environ={})


def test_unknown_field_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"service\.prot"):
        load_settings(write(tmp_path, "[service]\nprot = 1\n"), environ={})


def test_secret_from_environment(tmp_path):
    text = '[[desks]]\nid = "a"\nname = "A"\n[[partners]]\nid = "p"\nname = "P"\ndesk = "a"\nsecret = "env:P_SECRET"\n'
    settings = load_settings(write(tmp_path, text), environ={"P_SECRET": "s3cret"})
    assert settings.partner("p").secret == "s3cret"
    with pytest.raises(ConfigError, match=r"partners\.0\.secret: environment variable P_SECRET is not set"):
        load_settings(write(tmp_path, text), environ={})


def test_malformed_toml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[service\n"), environ={})


def test_production_refuses_demo_secrets():
    environ = {"YOUTHDESK_ENV": "production", "MONGODB_URI": "mongodb://db.invalid"}
    with pytest.raises(ConfigError, match=r"service\.data_key: the demo key"):
        load_settings(DEMO_CONFIG_PATH, environ=environ)
    environ["YOUTHDESK_DATA_KEY"] = "bm90LWEtZGVtby1rZXktYnV0LTMyLWJ5dGVzLWxvbmc="
    with pytest.raises(ConfigError, match=r"accounts\.0\.token: demo secret refused"):
        load_settings(DEMO_CONFIG_PATH, environ=environ)


def test_production_refuses_to_switch_the_privacy_notice_off():
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    service = settings.service.model_copy(update={"privacy_notice_enabled": False,
                                                  "data_key": "bm90LWEtZGVtby1rZXktYnV0LTMyLWJ5dGVzLWxvbmc="})
    with pytest.raises(ConfigError, match=r"service\.privacy_notice_enabled"):
        check_production_ready(settings.model_copy(update={"service": service}))


def test_production_refuses_the_work_order_standin_and_its_demo_secrets():
    settings = load_settings(DEMO_CONFIG_PATH, environ={})
    real_url = [e.model_copy(update={"url": "https://hotline.invalid/orders"}) for e in settings.work_orders.endpoints]
    with pytest.raises(ConfigError, match=r"work_orders\.endpoints\.0: stand-in or demo secret refused"):
        check_production_ready(_production_ready_but_orders(settings, settings.work_orders.endpoints))
    with pytest.raises(ConfigError, match=r"work_orders\.endpoints\.0: stand-in or demo secret refused"):
        check_production_ready(_production_ready_but_orders(settings, real_url))
    own = [e.model_copy(update={"secret": f"a-real-secret-for-{e.agency}"}) for e in real_url]
    check_production_ready(_production_ready_but_orders(settings, own))


def _production_ready_but_orders(settings, endpoints):  # type: ignore[no-untyped-def]
    service = settings.service.model_copy(update={"data_key": "bm90LWEtZGVtby1rZXktYnV0LTMyLWJ5dGVzLWxvbmc=",
                                                  "mongodb_uri": "mongodb://db.invalid"})
    orders = settings.work_orders.model_copy(update={"endpoints": endpoints})
    pager = settings.handoff.pager.model_copy(update={"provider": "none"})
    handoff = settings.handoff.model_copy(update={"pager": pager})
    return settings.model_copy(update={"service": service, "accounts": [], "partners": [], "work_orders": orders,
                                       "handoff": handoff})
