"""`incidentbot check-config` warns when private incidents have nowhere private to go."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.console.test_cli import cli

NO_SECURITY = "channels: {incidents: C1, incidents_low: C2, ops: C3}\n"


def test_check_config_warns_without_a_security_channel(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(NO_SECURITY, encoding="utf-8")
    done = cli("--config", str(config), "check-config")
    assert done.returncode == 0, done.stderr
    assert (
        "warning: channels.security is not set (console): private incidents"
        " (--private, a security tag) will be refused, never announced in public"
    ) in done.stdout
    config.write_text(NO_SECURITY.replace("ops: C3", "ops: C3, security: C4"), encoding="utf-8")
    done = cli("--config", str(config), "check-config")
    assert done.returncode == 0 and "channels.security" not in done.stdout, done.stdout
