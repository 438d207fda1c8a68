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

from bot.errors import ConfigError, InfraError, StartupError
from bot.log import Redactor, configure, secret_values
from bot.settings import (
    DEFAULT_CONFIG,
    ENVIRONMENT,
    BotConfig,
    Settings,
    load_config,
    load_settings,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="incidentbot", description=__doc__)
    p.add_argument("--config", help="YAML configuration (default: $INCIDENTBOT_CONFIG or shipped)")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (Slack/Discord per tokens, else the console)")
    run.add_argument("--platform", action="append", choices=["console", "slack", "discord"])
    probe = sub.add_parser("probe", help="run diagnostic probes from the terminal")
    probe.add_argument("targets", nargs="*", help="probe names or services (default: all)")
    probe.add_argument("--json", action="store_true", help="JSON output")
    report = sub.add_parser("report", help="write an incident's post-mortem Markdown")
    report.add_argument("incident", help="INC-n")
    report.add_argument("--output-dir", default=".", help="directory for INC-n.md")
    sub.add_parser("check-config", help="validate the configuration and exit")
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
    redact = configure(fmt=settings.log_format, level=level, secrets=secrets)
    try:
        config, path = _config(args, settings)
        if args.command == "check-config":
            return _check_config(config, path, settings)
        if args.command == "probe":
            return asyncio.run(_probe(config, path, args.targets, args.json))
        if args.command == "report":
            return asyncio.run(_report(settings, config, path, args.incident, args.output_dir))
        return asyncio.run(_run(settings, config, path, args.platform))
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


def _say(line: str, redact: Redactor) -> None:
    """One line on stderr, whatever a driver's message held (newlines, secrets)."""
    print(redact(" ".join(line.split())), file=sys.stderr)


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
    from bot.app import migrate_store, open_configured_store
    from bot.core.clock import SystemClock
    from bot.core.commands import parse_incident
    from bot.core.policy import format_duration
    from bot.core.templates import postmortem_markdown

    number = parse_incident(incident)
    if number is None:
        print(
            f"incidentbot report: expected an incident id like INC-7, got {incident!r}",
            file=sys.stderr,
        )
        return 2
    store = open_configured_store(settings)
    try:
        await migrate_store(store, settings)
        inc = await store.get(number)
        if inc is None:
            print(f"incidentbot report: INC-{number} does not exist", file=sys.stderr)
            return 2
        entries = await store.timeline(number)
    finally:
        await store.aclose()
    end = inc.resolved_at or SystemClock().now()
    text = postmortem_markdown(inc, entries, duration=format_duration(end - inc.declared_at))
    print(_write_report(Path(output_dir), f"{inc.key}.md", text))
    return 0


def _write_report(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    target.write_text(text, encoding="utf-8")
    return target


async def _run(
    settings: Settings, config: BotConfig, path: str, platforms: list[str] | None
) -> int:
    from bot.app import App

    app = App(settings, config, config_file=path, platforms=platforms)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
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
