"""The docker-compose deployment is consistent with the code (no Docker engine runs here)."""

from pathlib import Path

import yaml

import importlib
import tomllib

from dashboard.cli import COMMANDS, build_parser
from streams.config import Settings
from streams.store.accounts import ADMIN_ENV

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
VIGIE = {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("vigie")}


def _env_read_by_settings() -> set[str]:
    seen: set[str] = set()

    class Spy(dict):
        def get(self, key, default=None):
            seen.add(key)
            return default

    Settings.from_env(Spy())
    return seen | set(ADMIN_ENV)  # read once, by the first start of the dashboard


def test_kafka_runs_in_kraft_mode_with_three_brokers_and_replication_3():
    kafkas = {n: s for n, s in SERVICES.items() if s.get("image", "").startswith("apache/kafka")}
    assert len(kafkas) == 3
    ids = set()
    for service in kafkas.values():
        env = service["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3
        assert "healthcheck" in service
        ids.add(env["KAFKA_NODE_ID"])
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert {v.split("@")[1].split(":")[0] for v in voters} == set(kafkas)
    assert ids == {1, 2, 3}


def test_vigie_services_run_existing_subcommands_with_variables_the_code_reads():
    read = _env_read_by_settings()
    assert VIGIE, "no Vigie service in the compose file"
    for name, service in VIGIE.items():
        if service.get("entrypoint", ["vigie"]) == ["vigie"]:
            command = service["command"]
            assert command[0] in COMMANDS, f"{name} runs an unknown subcommand"
            build_parser(command[0]).parse_args(command)  # unknown flags exit with an error
        env = set(service["environment"])
        assert env <= read, f"{name} sets variables the code never reads: {env - read}"
        assert service["environment"]["KAFKA_BOOTSTRAP"].count("kafka-") == 3
        assert service["environment"]["VIGIE_DATABASE_URL"].startswith("postgresql")
        for dep in service["depends_on"]:
            assert dep in SERVICES


def test_the_dashboard_runs_under_gunicorn_with_several_workers():
    service = SERVICES["dashboard"]
    assert service["entrypoint"] == ["gunicorn"]
    command = service["command"]
    assert int(command[command.index("--workers") + 1]) >= 2
    module, _, factory = command[-1].partition(":")
    assert callable(getattr(importlib.import_module(module), factory.removesuffix("()")))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("gunicorn") for dep in extras["web"])
    assert "web" in (ROOT / "Dockerfile").read_text()


def test_processors_scale_out_and_the_dashboard_is_published():
    assert SERVICES["processor"]["deploy"]["replicas"] >= 2
    assert SERVICES["dashboard"]["ports"] == ["8050:8050"]
    assert "healthcheck" in SERVICES["postgres"] and "healthcheck" in SERVICES["dashboard"]


def test_no_secret_in_the_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in text
    assert "VIGIE_ADMIN_PASSWORD: ${VIGIE_ADMIN_PASSWORD:?" in text
    assert "password" not in text.lower().replace("postgres_password", "").replace("vigie_admin_password", "").replace(
        "the first admin's password", "")
