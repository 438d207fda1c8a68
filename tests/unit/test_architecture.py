"""Architecture rules that a test can enforce."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {
    "slack_bolt", "slack_sdk", "discord", "asyncpg", "aiosqlite", "redis", "httpx", "aiohttp",
    "prometheus_client", "bot.storage", "bot.adapters", "bot.paging", "probes", "yaml",
}  # fmt: skip


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_no_sdk_or_driver() -> None:
    offenders = {}
    for path in sorted((ROOT / "bot" / "core").glob("*.py")):
        bad = {
            n
            for n in imports(path)
            if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_CORE)
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_probes_never_import_the_bot() -> None:
    for path in sorted((ROOT / "probes").glob("*.py")):
        assert not {n for n in imports(path) if n == "bot" or n.startswith("bot.")}, path.name


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("probes/*.py")]
        if (n := len(p.read_text().splitlines())) > 700
    }
    assert big == {}


PLATFORM_PACKAGES = ("slack", "discord")
PLATFORM_MODULES = {"__init__", "adapter", "inbound", "outbound", "render"}


def test_chat_platforms_are_mirrored_packages() -> None:
    """Each chat platform is one package with the same core modules; none imports another
    platform's package (what they share lives in bot/adapters/inbound.py)."""
    adapters = ROOT / "bot" / "adapters"
    for name in PLATFORM_PACKAGES:
        package = adapters / name
        modules = {p.stem for p in package.glob("*.py")}
        assert modules >= PLATFORM_MODULES, (name, sorted(PLATFORM_MODULES - modules))
        others = [f"bot.adapters.{o}" for o in PLATFORM_PACKAGES if o != name]
        for path in sorted(package.glob("*.py")):
            crossing = {n for n in imports(path) if any(n.startswith(o) for o in others)}
            assert crossing == set(), (str(path.relative_to(ROOT)), sorted(crossing))
    assert not list(adapters.glob("slack_*.py")) and not list(adapters.glob("discord_*.py"))


def test_adapter_modules_stay_small() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.glob("bot/adapters/**/*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert big == {}


def test_no_adapter_reads_the_command_language() -> None:
    """Adapters hand text or typed commands to the core; only the core knows the words
    (severity aliases, `declare` without a title) and builds commands from them."""
    readers = {
        str(p.relative_to(ROOT))
        for p in ROOT.glob("bot/adapters/**/*.py")
        if ".lexicon" in p.read_text()
    }
    assert readers == set()


def test_durations_stand_alone() -> None:
    """`durations` is the one duration grammar both the bot and the probes import, so it
    may import neither (nor anything outside the standard library)."""
    for path in sorted((ROOT / "durations").glob("*.py")):
        found = imports(path)
        assert not {n for n in found if n.split(".")[0] in {"bot", "probes"}}, path.name
        assert found <= {"__future__", "re"}, (path.name, sorted(found))
