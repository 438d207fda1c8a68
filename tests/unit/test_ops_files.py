"""The operator-facing files agree with the code: Dockerfile, .dockerignore, example.env and
the generated configuration reference. No container engine runs here, so the Dockerfile is
parsed and checked against pyproject, the CLI and the documented start command."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from bot.__main__ import _parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("#"))
    )
    out = []
    for line in logical.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args_of(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list), f"expected the exec (JSON) form, got {rest!r}"
    return [str(v) for v in value]


def test_start_command_is_the_console_script_running_the_bot() -> None:
    (entry,) = args_of("ENTRYPOINT")
    (cmd,) = args_of("CMD")
    command = exec_form(entry) + exec_form(cmd)
    assert command == ["incidentbot", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[command[0]] == "bot.__main__:main"
    assert _parser().parse_args(command[1:]).command == "run"
    # The README's start command (./scripts/run) ends in the same console script.
    assert "./scripts/run" in (ROOT / "README.md").read_text()
    assert "incidentbot run" in (ROOT / "scripts" / "run").read_text().splitlines()[-1]


def test_dependencies_come_from_the_project_and_the_base_is_pinned() -> None:
    (arg,) = [a for a in args_of("ARG") if a.startswith("PYTHON_IMAGE=")]
    image = arg.partition("=")[2]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?", image), image
    assert all(f.startswith("${PYTHON_IMAGE}") for f in args_of("FROM"))
    runs = args_of("RUN")
    installs = [r for r in runs if "pip install" in r]
    assert installs == ["/opt/incidentbot/bin/pip install ."]  # the project, by its pyproject
    copied = [c.split()[0] for c in args_of("COPY") if not c.startswith("--from")]
    assert "pyproject.toml" in copied
    for source in copied:
        assert (ROOT / source).exists(), source
    # Every package pyproject ships is in the build context.
    includes = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pattern in includes["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in copied


def test_runs_as_a_non_root_user() -> None:
    users = args_of("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000


def test_environment_and_health_check_match_the_settings() -> None:
    env: dict[str, str] = {}
    for rest in args_of("ENV"):
        env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    known = {name.upper() for name in Settings.model_fields}
    ours = {
        k for k in env if not k.startswith("PYTHON") and k != "PATH" and not k.startswith("PIP")
    }
    assert ours <= known, ours - known
    assert env["INCIDENTBOT_CONFIG"] == "/app/config/incidentbot.yaml"
    assert "config /app/config" in args_of("COPY")
    assert (ROOT / "config" / "incidentbot.yaml").exists()
    assert env["PORT"] in args_of("EXPOSE")
    (health,) = args_of("HEALTHCHECK")
    assert "/healthz" in health


def test_dockerignore_keeps_the_context_small_and_free_of_secrets() -> None:
    patterns = [
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]  # fmt: skip

    def excluded(path: str) -> bool:
        result = False
        for p in patterns:
            negate = p.startswith("!")
            if fnmatch.fnmatch(path, p.lstrip("!")) or path.startswith(p.lstrip("!") + "/"):
                result = not negate
        return result

    for path in (".venv", ".git", "data", ".env", "tests", "incidentbot.egg-info"):
        assert excluded(path), path
    for path in ("pyproject.toml", "README.md", "bot", "probes", "config", "config/example.env"):
        assert not excluded(path), path


def test_example_env_lists_every_setting() -> None:
    listed = re.findall(
        r"^#?([A-Z][A-Z0-9_]*)=", (ROOT / "config" / "example.env").read_text(), re.M
    )
    assert sorted(listed) == sorted(name.upper() for name in Settings.model_fields)
    assert len(listed) == len(set(listed))


def test_configuration_reference_is_generated_and_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"`{name.upper()}`" in doc
        assert field.description, f"Settings.{name} has no description for the reference"
