"""Configuration: the shipped file is valid; a bad file stops start-up naming file, key
and what was expected; `${VAR}` comes from the environment."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import DEFAULT_CONFIG, BotConfig, load_config
from bot.core.model import Severity
from bot.errors import ConfigError


def write(tmp: Path, text: str) -> Path:
    p = tmp / "bot.yaml"
    p.write_text(text)
    return p


def test_shipped_file_spells_out_the_spec_defaults() -> None:
    config = load_config(DEFAULT_CONFIG, env={})
    shipped = config.policy()
    defaults = BotConfig().policy()
    assert shipped.severities == defaults.severities
    assert shipped.of(Severity.SEV1).update_every == timedelta(minutes=15)
    assert shipped.of(Severity.SEV4).update_every == timedelta(days=1)


def test_overrides_keep_omitted_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, "severities:\n  SEV1: {update_every: 4s}\n")
    sev1 = load_config(p, env={}).policy().of(Severity.SEV1)
    assert sev1.update_every == timedelta(seconds=4)
    assert sev1.escalate_after == timedelta(minutes=30)
    assert "critical" in sev1.aliases


def test_env_expansion(tmp_path: Path) -> None:
    p = write(
        tmp_path, 'channels: {incidents: "${INC}", incidents_low: "${LOW:-C0LOW}", ops: C0OPS}\n'
    )
    config = load_config(p, env={"INC": "C0INC"})
    assert config.channels["incidents"] == "C0INC"
    assert config.channels["incidents_low"] == "C0LOW"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("severities:\n  SEV1: {update_every: soon}\n", "severities.SEV1.update_every",
         "expected a duration like 30s"),
        ("severities:\n  SEV9: {update_every: 5m}\n", "severities.SEV9", "SEV1"),
        ("severities:\n  SEV2: {postmortem: maybe}\n", "severities.SEV2.postmortem", "required"),
        ("chanels: {}\n", "chanels", "no such key"),
        ("channels: {incidents: a}\n", "channels", "incidents_low, ops"),
        ('channels: {incidents: "${NOPE}", incidents_low: b, ops: c}\n', "channels.incidents",
         "environment variable NOPE is not set"),
        ("severities:\n  SEV1: {pagers: [pd]}\n", "severities.SEV1.pagers", "'pd' is not"),
        ("contacts: {oncall: [U1]}\n", "severities.SEV1.page", "'engineering_manager' is not"),
        ("templates: {initial: 'X {nope}'}\n", "templates.initial", "unknown placeholder(s) nope"),
        ("severities:\n  SEV2: {aliases: [p1]}\n", "severities.SEV2.aliases", "'p1' is used twice"),
        ("a: [1, 2\n", "line 2", "valid YAML"),
        ("- just\n- a list\n", "(top)", "a mapping"),
    ],
)  # fmt: skip
def test_bad_config_names_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(p, env={})
    assert err.value.file == str(p)
    assert err.value.key == key
    assert expected in err.value.expected


def test_start_up_stops_with_the_error(tmp_path: Path) -> None:
    p = write(tmp_path, "severities:\n  SEV1: {update_every: 0m}\n")
    run = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(p), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert f"{p}: severities.SEV1.update_every: expected a duration" in run.stderr
    assert "Traceback" not in run.stderr
