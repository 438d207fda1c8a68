"""`probes/` is a library of its own: it never imports the bot, and never shells out."""

from __future__ import annotations

import ast
from pathlib import Path

PROBES = Path(__file__).resolve().parents[3] / "probes"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_probes_never_import_bot_or_subprocess() -> None:
    files = sorted(PROBES.glob("*.py"))
    assert len(files) >= 12
    for path in files:
        bad = _imports(path) & {"bot", "subprocess", "os.system"}
        assert not bad, f"{path.name} imports {bad}"
