"""Every install path pins what it installs with constraints.txt (scripts/lock): the exact
version of each distribution, transitively, dev tools and the build backend included."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"


def pins() -> dict[str, str]:
    found = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def test_every_declared_dependency_and_the_build_backend_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
    ]
    declared += project["build-system"]["requires"]
    locked = pins()
    for requirement in declared:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in locked, requirement


def test_the_test_venv_holds_exactly_what_the_lock_pins() -> None:
    """The venv these tests run in was installed through the lock (scripts/check), so every
    distribution incidentbot[dev] needs is there at the pinned version."""
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "venv_ok.py"), "dev"],
        input=LOCK.read_text(),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    wrong = LOCK.read_text().replace(f"pyte=={pins()['pyte']}", "pyte==0.0.1")
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "venv_ok.py"), "dev"],
        input=wrong,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1
    assert "pyte" in check.stderr and "constraints.txt pins 0.0.1" in check.stderr


def test_scripts_docker_and_ci_install_through_the_lock() -> None:
    venv_sh = (ROOT / "scripts" / "venv.sh").read_text()
    assert "--constraint constraints.txt" in venv_sh  # uv
    assert 'PIP_CONSTRAINT="$PWD/constraints.txt"' in venv_sh  # pip, builds included
    for script, call in (("run", "ensure_venv\n"), ("check", "ensure_venv dev\n")):
        text = (ROOT / "scripts" / script).read_text()
        assert ". scripts/venv.sh\n" in text and call in text, script
    assert "./scripts/check" in (ROOT / ".ci" / "run").read_text().splitlines()[-1]
    docker = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md constraints.txt ./" in docker
    assert "ENV PIP_CONSTRAINT=/src/constraints.txt" in docker
    assert docker.index("ENV PIP_CONSTRAINT") < docker.index("pip install .")
