"""The composition root: settings -> store -> service -> scheduler/dispatcher -> adapters.

The only place that knows every concrete class. Everything is passed in; nothing is
created at import time. `App.start()` brings the parts up, `App.aclose()` stops taking
work, finishes what is in flight within a bound, releases claims and closes connections.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import httpx
import structlog
from aiohttp import web

from bot.adapters.http import HttpServer
from bot.config import BotConfig
from bot.core.clock import SystemClock
from bot.core.dispatcher import Dispatcher
from bot.core.ports import Clock, IncidentStore, Notifier, Pager, ProbeRunner
from bot.core.scheduler import Scheduler
from bot.core.service import IncidentService
from bot.errors import ConfigError, InfraError, StartupError
from bot.metrics import CONTENT_TYPE, Metrics
from bot.settings import Settings
from bot.storage import open_store
from bot.storage.dsn import describe

log = structlog.get_logger("incidentbot.app")


class Adapter(Notifier, Protocol):
    """A chat platform: receives commands, delivers notices."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def connected(self) -> bool: ...


@dataclass
class Health:
    """What /healthz reports."""

    ok: bool
    checks: dict[str, str] = field(default_factory=dict)


def build_probe_runner(config: BotConfig, config_file: str) -> ProbeRunner:
    """The probe runner for the configured probes, and `on_declare` checked against them
    (validated: errors name file and key)."""
    from bot.probing import ConfiguredProbeRunner

    runner = ConfiguredProbeRunner.from_dicts(config.probes, file=config_file)
    catalogue = runner.catalogue()
    known = {w.casefold() for w in (*catalogue, *catalogue.values(), "all")}
    for i, word in enumerate(config.on_declare):
        if word.casefold() not in known:
            names = ", ".join(catalogue) or "none configured"
            raise ConfigError(
                config_file,
                f"on_declare[{i}]",
                f"expected all, a probe name or a service (probes: {names}), got {word[:40]!r}",
            )
    return runner


def store_setting(settings: Settings) -> str:
    """The environment variable that chose the store (for start-up errors)."""
    return "DATABASE_URL" if settings.database_url is not None else "INCIDENTBOT_DATA_DIR"


def open_configured_store(settings: Settings) -> IncidentStore:
    """The store `settings` name; a URL no store understands is a `ConfigError`."""
    try:
        return open_store(settings.store_url())
    except ValueError as exc:
        raise ConfigError("(environment)", store_setting(settings), str(exc)) from None


async def migrate_store(store: IncidentStore, settings: Settings) -> None:
    """`store.migrate()`; an unreachable or unusable database is a one-line `StartupError`."""
    try:
        await store.migrate()
    except InfraError as exc:
        problem = f"expected a reachable database; {exc}"
        raise StartupError(store_setting(settings), problem) from None


class App:
    """One running incidentbot process.

    `platforms` defaults to what the settings' tokens select (console when none).
    `clock` is injectable so simulations and tests drive time by hand.
    """

    def __init__(
        self,
        settings: Settings,
        config: BotConfig,
        *,
        config_file: str = "config/incidentbot.yaml",
        platforms: list[str] | None = None,
        clock: Clock | None = None,
        console_io: tuple[Any, Any] | None = None,
        console_user: str | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.config_file = config_file
        self.platforms = platforms or settings.platforms()
        self.clock: Clock = clock or SystemClock()
        self.owner = owner or settings.replica_id or f"{socket.gethostname()}:{os.getpid()}"
        self.console_io = console_io
        self.console_user = console_user
        policy = config.policy()
        self.store: IncidentStore = open_configured_store(settings)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self.metrics = Metrics(
            clock=self.clock,
            severities=[s.value for s in policy.severities],
            count_open=self.store.count_open,
            delivered=lambda: self.dispatcher.delivered,
            failures=lambda: self.dispatcher.failures,
        )
        self.http.event_hooks["response"].append(self.metrics.on_http_response)
        # /healthz and /metrics; other adapters (Slack HTTP mode) mount routes on `self.web`
        # before start() freezes it.
        self.server = HttpServer(
            health=self.health,
            metrics=self.metrics.render,
            metrics_content_type=CONTENT_TYPE,
            port=self.http_port() or 0,
        )
        self.web: web.Application = self.server.web
        self.probes: ProbeRunner = build_probe_runner(config, config_file)
        self.pagers: dict[str, Pager] = self._build_pagers()
        self.service = IncidentService(
            store=self.store,
            policy=policy,
            templates=config.templates_set(),
            clock=self.clock,
            probes=self.probes,
            on_declare_probes=config.on_declare,
            on_commit=self._on_commit,
            on_command=self.metrics.on_command,
            on_probe_run=self.metrics.on_probe_run,
            channels={p: config.channels_for(p) for p in ("console", "slack", "discord")},
        )
        self.scheduler = Scheduler(
            store=self.store,
            service=self.service,
            clock=self.clock,
            owner=self.owner,
            lease=config.scheduler.lease,
            max_idle=config.scheduler.max_idle,
            on_fired=self.metrics.on_fired,
        )
        self.adapters: dict[str, Adapter] = {}
        self.dispatcher = Dispatcher(
            store=self.store,
            service=self.service,
            notifiers=self.adapters,
            pagers=self.pagers,
            clock=self.clock,
            owner=self.owner,
            # One lease for timers and notices: a killed replica's outbox claims are taken
            # over as soon as its timers are (scheduler.lease), not after a fixed 30 s.
            lease=config.scheduler.lease,
            max_idle=config.scheduler.max_idle,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    def _build_pagers(self) -> dict[str, Pager]:
        if not self.config.pagers:
            return {}
        from bot.paging.config import build_pagers, load_pagers

        return build_pagers(load_pagers(self.config.pagers, self.config_file), self.http)

    def _on_commit(self) -> None:
        self.dispatcher.wake()
        self.scheduler.wake()

    def http_port(self) -> int | None:
        """Where /healthz and /metrics listen: PORT when set; Slack HTTP mode (a signing
        secret) always listens, on 3000 by default; otherwise no server runs."""
        if self.settings.port is not None:
            return self.settings.port
        if "slack" in self.platforms and self.settings.slack_signing_secret is not None:
            return 3000
        return None

    # ------------------------------------------------------------------ lifecycle

    def adapter_factories(self) -> dict[str, Callable[[], Adapter]]:
        """Platform name -> constructor; each import happens only if that platform runs."""
        return {"console": self._console, "slack": self._slack, "discord": self._discord}

    def _console(self) -> Adapter:
        from bot.adapters.console import ConsoleAdapter

        stdin, out = self.console_io or (None, None)
        return ConsoleAdapter(
            self.service,
            channels=self.config.channels_for("console"),
            stdin=stdin,
            out=out,
            user=self.console_user,
            history=self.settings.data_dir() / "console_history",
        )

    def _slack(self) -> Adapter:
        from bot.adapters.slack.adapter import SlackAdapter

        s = self.settings
        if s.slack_bot_token is None:
            raise ConfigError(
                "(environment)", "SLACK_BOT_TOKEN", "expected a Slack bot token (xoxb-…)"
            )
        if s.slack_signing_secret is None and s.slack_app_token is None:
            raise ConfigError(
                "(environment)",
                "SLACK_APP_TOKEN / SLACK_SIGNING_SECRET",
                "expected an app token (Socket Mode) or a signing secret (HTTP mode)",
            )
        adapter = SlackAdapter(
            self.service,
            bot_token=s.slack_bot_token.get_secret_value(),
            channels=self.config.channels_for("slack"),
            signing_secret=(
                s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None
            ),
            app_token=s.slack_app_token.get_secret_value() if s.slack_app_token else None,
            api_url=s.slack_api_url,
            # Waiting for a channel's slot must leave the attempt most of its time limit.
            pace_max_wait=min(2.0, self.dispatcher.attempt_limit.total_seconds() / 4),
        )
        if s.slack_signing_secret is not None:
            adapter.mount(self.web)  # before start() freezes the web application
        return adapter

    def _discord(self) -> Adapter:
        from bot.adapters.discord.adapter import DiscordAdapter

        token = self.settings.discord_token
        if token is None:
            raise ConfigError("(environment)", "DISCORD_TOKEN", "expected a Discord bot token")
        platform = self.config.platforms.get("discord")
        return DiscordAdapter(
            self.service,
            token=token.get_secret_value(),
            channels=self.config.channels_for("discord"),
            guild_id=platform.guild_id if platform else None,
            api_url=self.settings.discord_api_url,
        )

    async def start(self) -> None:
        """Migrates the store, starts adapters, then the scheduler and the dispatcher."""
        await migrate_store(self.store, self.settings)
        factories = self.adapter_factories()
        for name in self.platforms:
            if name not in factories:
                raise ConfigError("(environment)", "platform", f"one of {', '.join(factories)}")
            self.adapters[name] = factories[name]()
        for name, adapter in self.adapters.items():
            try:
                await adapter.start()
            except StartupError:
                raise
            except InfraError as exc:  # an adapter that does not name its setting itself
                raise StartupError(name, str(exc)) from None
        self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self.dispatcher.run(), name="dispatcher"))
        self._started = True
        port = self.http_port()
        if port is not None:
            try:
                await self.server.start()
            except OSError as exc:
                raise StartupError(
                    "PORT", f"expected a port this process can listen on; {port}: {exc.strerror}"
                ) from None
        log.info(
            "app.started",
            platforms=self.platforms,
            owner=self.owner,
            store=describe(self.settings.store_url()),
        )

    async def aclose(self, grace: timedelta = timedelta(seconds=10)) -> None:
        """Graceful stop: no new work; background probe runs finished and everything due in
        the outbox delivered (bounded by `grace`); claims released; connections closed.
        Finishing work shares the one `grace` budget; each closing step then has 5 s."""
        loop = asyncio.get_running_loop()
        end = loop.time() + grace.total_seconds()

        def left() -> float:
            return max(0.5, end - loop.time())

        # Inbound HTTP first (Slack HTTP mode): requests in flight finish, no new ones come.
        await _bounded(self.server.aclose(), min(self.server.shutdown_timeout + 1, left()))
        if self._started:
            await _bounded(self.service.aclose(left()), left() + 0.5)
        # Let each loop finish the step it is in, so no claimed work is cut off mid-way.
        self.scheduler.stop()
        self.dispatcher.stop()
        await _bounded(asyncio.gather(*self._tasks, return_exceptions=True), left())
        for t in self._tasks:
            t.cancel()
        if self._started:
            deadline = self.clock.now() + timedelta(seconds=left())
            await _bounded(self.dispatcher.drain(deadline), left())
        for adapter in self.adapters.values():
            await _bounded(adapter.aclose(), 5)
        if self._started:
            await _bounded(self.store.release_claims(self.owner), 5)
        await _bounded(self.store.aclose(), 5)
        await _bounded(self.http.aclose(), 5)
        self._started = False
        log.info("app.stopped")

    async def health(self) -> Health:
        """Store reachable, scheduler loop alive, platforms connected."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.store.ping(), 3)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"unreachable ({type(exc).__name__})"
        alive = [t for t in self._tasks if not t.done()]
        checks["scheduler"] = "ok" if len(alive) == len(self._tasks) and self._tasks else "stopped"
        for name, adapter in self.adapters.items():
            checks[name] = "ok" if adapter.connected() else "disconnected"
        return Health(all(v == "ok" for v in checks.values()), checks)


async def _bounded(aw: Awaitable[Any], seconds: float) -> None:
    try:
        await asyncio.wait_for(aw, seconds)
    except (TimeoutError, Exception) as exc:
        log.warning("shutdown.step_incomplete", error=type(exc).__name__)
