"""Command line: `incidentbot run | probe | report | check-config`.

Exit codes: 0 success; 1 probe warnings, or a dependency (database, Slack, Discord, the
port) refused or did not answer; 2 probe failures, or invalid configuration, environment
or usage. Every refusal is one line on stderr naming the file or variable, the key and
what was expected; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.adapters.terminal import GuardedStream
from bot.config import DEFAULT_CONFIG, BotConfig, load_config
from bot.errors import ConfigError, InfraError, StartupError
from bot.log import Redactor, configure, secret_values
from bot.settings import ENVIRONMENT, Settings, load_settings

if TYPE_CHECKING:
    from bot.core.ports import IncidentStore


CONFIG_HELP = "YAML configuration (default: $INCIDENTBOT_CONFIG or shipped)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="incidentbot", description=__doc__)
    p.add_argument("--config", help=CONFIG_HELP)
    # `--config` is accepted after the command too (`incidentbot run --config my.yaml`, as
    # `./scripts/run --config my.yaml` passes it); SUPPRESS keeps a global one if not given.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", parents=[common], help="run the bot (Slack/Discord per tokens, else the console)"
    )
    run.add_argument("--platform", action="append", choices=["console", "slack", "discord"])
    run.add_argument(
        "--user", help="console: who you act as (default: $USER); /as <name> switches later"
    )
    probe = sub.add_parser(
        "probe", parents=[common], help="run diagnostic probes from the terminal"
    )
    probe.add_argument("targets", nargs="*", help="probe names or services (default: all)")
    probe.add_argument("--json", action="store_true", help="JSON output")
    report = sub.add_parser(
        "report", parents=[common], help="write an incident's post-mortem Markdown"
    )
    report.add_argument("incident", help="INC-n")
    report.add_argument("--output-dir", default=".", help="directory for INC-n.md")
    sub.add_parser("check-config", parents=[common], help="validate the configuration and exit")
    return p


def _config(args: argparse.Namespace, settings: Settings) -> tuple[BotConfig, str]:
    path = args.config or settings.incidentbot_config
    return load_config(path), path or str(DEFAULT_CONFIG)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _refuse(exc, Redactor())
    secrets = secret_values(settings)  # every SecretStr, and the DSN's password alone
    level = settings.log_level
    if args.command != "run" or settings.platforms() == ["console"]:
        # The terminal is the user interface here: only warnings and errors interleave with it.
        level = os.environ.get("LOG_LEVEL", "warning")
    # Logs follow sys.stderr as it is at each write (the console's prompt swaps it to print
    # above the input line) and stop, instead of failing, once nobody reads them.
    redact = configure(
        fmt=settings.log_format,
        level=level,
        secrets=secrets,
        stream=_STDERR,  # type: ignore[arg-type]
    )
    try:
        config, path = _config(args, settings)
        if args.command == "check-config":
            return _check_config(config, path, settings)
        if args.command == "probe":
            return asyncio.run(_probe(config, path, args.targets, args.json))
        if args.command == "report":
            return asyncio.run(_report(settings, config, path, args.incident, args.output_dir))
        if args.user is not None:
            from bot.adapters.console import console_actor

            try:
                console_actor(args.user)
            except ValueError as exc:
                _err(f"incidentbot run: --user: {exc}")
                return 2
        return asyncio.run(_run(settings, config, path, args.platform, args.user))
    except ConfigError as exc:
        return _refuse(exc, redact)
    except InfraError as exc:
        verb = "cannot start" if isinstance(exc, StartupError) else "failed"
        _say(f"incidentbot: {verb}: {exc}", redact)
        return 1
    except KeyboardInterrupt:
        return 0


def _refuse(exc: ConfigError, redact: Redactor) -> int:
    if exc.file == ENVIRONMENT:
        _say(f"incidentbot: invalid environment: {exc.key}: {exc.expected}", redact)
    else:
        _say(f"incidentbot: invalid configuration: {exc}", redact)
    return 2


_STDERR = GuardedStream(lambda: sys.stderr)


def _err(line: str) -> None:
    """One line for the person at the terminal; dropped if stderr is closed."""
    _STDERR.write(line + "\n")


def _say(line: str, redact: Redactor) -> None:
    """One line on stderr, whatever a driver's message held (newlines, secrets)."""
    _err(redact(" ".join(line.split())))


def _check_config(config: BotConfig, path: str, settings: Settings) -> int:
    from bot.app import App
    from bot.core.reach import unreached_warnings

    # Builds everything `run` builds before it connects anything (store, probes, pagers,
    # policy, templates), so check-config refuses exactly what run refuses.
    app = App(settings, config, config_file=path)
    asyncio.run(app.http.aclose())
    # Valid, but a severity that pages nobody, or private incidents with nowhere to go, is
    # the 3 a.m. surprise: never a bare "OK" then.
    warnings = [*unreached_warnings(config.policy()), *config.warnings(settings.platforms())]
    if warnings:
        print(f"{path}: valid, with {len(warnings)} warning(s)")
        for w in warnings:
            print(f"  warning: {w}")
    else:
        print(f"{path}: OK")
    print(f"  platforms: {', '.join(settings.platforms())}")
    print(f"  severities: {', '.join(s.value for s in config.policy().severities)}")
    print(f"  probes: {len(app.probes.catalogue())}; pagers: {len(app.pagers)}")
    return 0


async def _probe(config: BotConfig, path: str, targets: list[str], as_json: bool) -> int:
    from probes.config import ProbeConfigError
    from probes.report import run_cli
    from probes.runner import UnknownSelectionError

    try:
        return await run_cli(config.probes, targets, as_json, sys.stdout)
    except ProbeConfigError as exc:
        raise ConfigError(path, exc.key, f"expected {exc.expected}") from None
    except UnknownSelectionError as exc:
        print(f"incidentbot probe: {exc}", file=sys.stderr)
        return 2


async def _report(
    settings: Settings, config: BotConfig, path: str, incident: str, output_dir: str
) -> int:
    from bot.app import migrate_store
    from bot.core.clock import SystemClock
    from bot.core.lexing import parse_incident
    from bot.core.policy import format_duration
    from bot.core.templates import postmortem_markdown

    number = parse_incident(incident)
    if number is None:
        _err(f"incidentbot report: expected an incident id like INC-7, got {incident!r}")
        return 2
    found = existing_store(settings, "incidentbot report")
    if found is None:
        return 2
    store, shown = found
    try:
        await migrate_store(store, settings)
        inc = await store.get(number)
        if inc is None:
            _err(f"incidentbot report: INC-{number} does not exist in {shown}")
            return 2
        entries = await store.timeline(number)
    finally:
        await store.aclose()
    end = inc.resolved_at or SystemClock().now()
    text = postmortem_markdown(inc, entries, duration=format_duration(end - inc.declared_at))
    print(_write_report(Path(output_dir), f"{inc.key}.md", text))
    return 0


def existing_store(settings: Settings, prog: str) -> tuple[IncidentStore, str] | None:
    """The configured store for a command that only reads (`report`, `stats`), and how to
    name it; says on stderr which database it reads. An SQLite file that does not exist is
    never created: that is an error naming the path (None), as a mistyped DATABASE_URL or
    another directory's default must not look like "no such incident"."""
    from bot.app import open_configured_store
    from bot.storage.dsn import describe, sqlite_path

    url = settings.store_url()
    shown = describe(url)
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        if path != ":memory:" and not Path(path).is_file():
            _err(
                f"{prog}: no database at {Path(path).resolve()} (nothing was stored there;"
                " DATABASE_URL or INCIDENTBOT_DATA_DIR names another)"
            )
            return None
    _err(f"{prog}: reading {shown}")
    return open_configured_store(settings), shown


def _write_report(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    target.write_text(text, encoding="utf-8")
    return target


async def _run(
    settings: Settings,
    config: BotConfig,
    path: str,
    platforms: list[str] | None,
    user: str | None = None,
) -> int:
    from bot.app import App
    from bot.storage.dsn import describe

    app = App(settings, config, config_file=path, platforms=platforms, console_user=user)
    if "console" in app.platforms:
        _err(f"incidentbot: store: {describe(settings.store_url())}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal went away; finish and close the store like on SIGTERM.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        waiters = [asyncio.ensure_future(stop.wait())]
        console = app.adapters.get("console")
        if console is not None:
            waiters.append(asyncio.ensure_future(console.run()))  # type: ignore[attr-defined]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
    finally:
        await app.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
