"""docker-compose.yml describes the production shape and only names commands that exist.

No Docker engine runs here, so the file is checked for structure: the services, their images or
build, the environment they need, health-gated dependencies, and that every `leadmarket` command
they run is a real subcommand of our CLI.
"""

from pathlib import Path

import yaml
from click.testing import CliRunner

from leadmarket.cli import main

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://") and env["REDIS_URL"].startswith("redis://")
        assert "LEADMARKET_SECRET_KEY" in env
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services


def test_compose_commands_are_real_cli_commands():
    runner = CliRunner()
    for name, service in compose()["services"].items():
        command = service.get("command")
        if not command or command[0] != "leadmarket":
            continue
        words = [w for w in command[1:] if not w.startswith("-")][:2]
        path = words[:2] if words[0] == "db" else words[:1]
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_dockerfile_copies_every_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("leadmarket", "affiliates", "marketplace", "fraud", "billing", "api", "web"):
        assert f"COPY {package} ./{package}" in dockerfile
