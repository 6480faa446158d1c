"""docker-compose.yml and deploy/: what can be checked without Docker.

The files parse; every variable the compose file gives a gateway is one the settings read (an
override in ``contract.config`` or an ``env:`` reference of deploy/youthdesk.toml) and every
reference is given; that file loads as production settings with the compose environment; the
store, Redis and Rasa addresses, nginx's upstreams and Rasa's endpoints name compose services;
every ``${VAR}`` is in deploy/env.example; the gateway image copies every package and no secret.
"""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from cryptography.fernet import Fernet

from contract.config import _ENV_OVERRIDES, PROJECT_ROOT, load_settings
from tests.service.test_layers import LAYER

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DEPLOY = PROJECT_ROOT / "deploy"
GATEWAYS = ("gateway1", "gateway2")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _gateway_environment(service: str, values: dict[str, str]) -> dict[str, str]:
    """The service's environment with each ``${VAR}`` / ``${VAR:-default}`` as ``values`` (or the default)."""
    def substitute(text: str) -> str:
        return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: values.get(m[1], m[2] or ""), str(text))
    return {name: substitute(value) for name, value in _compose()["services"][service]["environment"].items()}


def _compose_variables() -> set[str]:
    return set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))


def test_the_compose_file_has_the_production_services() -> None:
    services = _compose()["services"]
    assert set(services) == {"mongo1", "mongo2", "mongo3", "mongo-init", "redis", "rasa", "nginx", *GATEWAYS}
    for name in ("mongo1", "mongo2", "mongo3"):
        assert "--replSet rs0" in " ".join(services[name]["entrypoint"]), name
        assert any(str(volume).endswith(":/data/db") for volume in services[name]["volumes"]), name
    assert services["nginx"]["ports"] == ["80:80"]
    assert not any("ports" in services[name] for name in services if name != "nginx")  # only nginx is exposed


def test_every_gateway_variable_is_one_the_settings_read_and_every_reference_is_set() -> None:
    references = set(re.findall(r'=\s*"env:(\w+)"', (DEPLOY / "youthdesk.toml").read_text(encoding="utf-8")))
    for gateway in GATEWAYS:
        given = set(_gateway_environment(gateway, {}))
        assert given - set(_ENV_OVERRIDES) - references - {"YOUTHDESK_CONFIG"} == set(), gateway
        assert references - given == set(), gateway


def test_the_deploy_settings_load_as_production_with_the_compose_environment() -> None:
    values = {name: f"value-of-{name.lower()}" for name in _compose_variables()}
    values["YOUTHDESK_DATA_KEY"] = Fernet.generate_key().decode()
    values["WECHAT_AES_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")  # the console's form
    environ = _gateway_environment("gateway1", values)
    environ["YOUTHDESK_CONFIG"] = str(DEPLOY / "youthdesk.toml")
    settings = load_settings(environ=environ)  # production: refuses demo secrets, stand-ins, no store
    services = set(_compose()["services"])
    assert settings.service.env == "production"
    uri = urlsplit(settings.service.mongodb_uri)
    assert {host.split(":")[0] for host in uri.netloc.split("@")[1].split(",")} == {"mongo1", "mongo2", "mongo3"}
    assert "replicaSet=rs0" in uri.query
    assert urlsplit(settings.service.redis_url).hostname in services
    assert urlsplit(settings.service.rasa_url).hostname in services
    assert settings.accounts[0].token == "value-of-wechat_token"
    nginx = _compose()["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    assert settings.service.trusted_proxies == [nginx]  # per-address limits see the youth, not nginx


def test_nginx_balances_the_gateways_and_upgrades_websockets() -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    port = _compose()["services"]["gateway1"]["command"][-1]
    assert re.findall(r"^\s*server (\S+?)(?: |;)", conf, re.MULTILINE) == [f"{g}:{port}" for g in GATEWAYS]
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf


def test_rasa_keeps_its_trackers_in_the_replica_set_and_locks_in_redis() -> None:
    endpoints = yaml.safe_load((DEPLOY / "rasa-endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["tracker_store"]["type"] == "mongod" and "replicaSet=rs0" in endpoints["tracker_store"]["url"]
    assert endpoints["lock_store"]["type"] == "redis" and endpoints["lock_store"]["url"] in _compose()["services"]
    rasa_env = _compose()["services"]["rasa"]["environment"]
    assert set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "rasa-endpoints.yml").read_text(encoding="utf-8"))) <= set(rasa_env)


def test_every_compose_variable_is_in_the_example_env_file() -> None:
    example = {line.split("=")[0] for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines()
               if line and not line.startswith("#")}
    assert _compose_variables() <= example


def test_the_gateway_image_copies_every_package() -> None:
    copied = set(re.findall(r"^COPY (\w+) ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE))
    assert set(LAYER) <= copied
    assert Path(PROJECT_ROOT / "nlu_data").is_dir() and "nlu_data" in copied  # the risk lexicon
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {"deploy/.env", "deploy/secrets/", ".youthdesk/", "backups/"} <= ignored  # secrets and data stay out
