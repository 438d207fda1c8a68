"""`bot.storage`'s modules each name their public surface in `__all__`, and keep to it."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import bot.storage

MODULES = sorted(m.name for m in pkgutil.iter_modules(bot.storage.__path__))
REPO = Path(__file__).resolve().parents[2]


def test_every_storage_module_lists_names_it_defines() -> None:
    assert {"codec", "postgres", "sql", "sqlite", "sqlstore"} <= set(MODULES)
    for name in ["", *MODULES]:
        module = importlib.import_module(f"bot.storage{'.' + name if name else ''}")
        exported = getattr(module, "__all__", None)
        assert exported, f"bot.storage.{name} has no __all__"
        missing = [n for n in exported if not hasattr(module, n)]
        assert not missing, f"bot.storage.{name}.__all__ names what it lacks: {missing}"


def test_nothing_outside_a_module_imports_a_name_it_does_not_export() -> None:
    offenders: list[str] = []
    for path in [*REPO.glob("bot/**/*.py"), *REPO.glob("tests/**/*.py"), *REPO.glob("bench/*.py")]:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot.storage."):
                exported = importlib.import_module(node.module or "").__all__
                offenders += [
                    f"{path.relative_to(REPO)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name not in exported
                ]
    assert not offenders, offenders
