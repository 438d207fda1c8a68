"""Is this virtualenv already a complete install of this checkout? (used by scripts/venv.sh)

Usage: .venv/bin/python scripts/venv_ok.py [dev] < constraints.txt
Exit 0 when incidentbot is installed in editable mode from this directory and every
distribution it needs (with the `dev` extra if asked), transitively, is installed at the
version constraints.txt pins; exit 1 (saying what is missing) otherwise. It reads only
installed metadata and never touches the network, so a complete venv starts offline even
before its install stamp was written.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

try:  # pip's vendored copy: present in every venv pip made, no extra dependency
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
except ImportError:  # pragma: no cover - a venv without pip cannot be checked
    print("venv_ok: pip is not importable", file=sys.stderr)
    sys.exit(1)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[_norm(name)] = version.split(";", 1)[0].strip()
    return pins


def missing(root: Path, extras: set[str], pins: dict[str, str]) -> str | None:
    """What keeps the venv from being complete, or None."""
    try:
        dist = metadata.distribution("incidentbot")
    except metadata.PackageNotFoundError:
        return "incidentbot is not installed"
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url") != root.resolve().as_uri() or not direct.get("dir_info", {}).get(
        "editable"
    ):
        return "incidentbot is not installed (editable) from this checkout"
    todo = [(r, extras) for r in map(Requirement, dist.requires or [])]
    seen: set[str] = set()
    while todo:
        req, active = todo.pop()
        env = default_environment()
        if req.marker is not None and not any(
            req.marker.evaluate({**env, "extra": e}) for e in (active or {""})
        ):
            continue
        name = _norm(req.name)
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            sub = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            return f"{req.name} is not installed"
        version = sub.version
        if name in pins and pins[name] != version:
            return f"{req.name} {version} is installed; constraints.txt pins {pins[name]}"
        if not req.specifier.contains(version, prereleases=True):
            return f"{req.name} {version} does not satisfy {req}"
        todo += [(r, set(req.extras)) for r in map(Requirement, sub.requires or [])]
    return None


def main() -> int:
    extras = set(sys.argv[1:])
    why = missing(Path.cwd(), extras, _pins(sys.stdin.read()))
    if why:
        print(f"venv_ok: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
