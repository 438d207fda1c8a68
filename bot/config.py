"""The YAML configuration model and its loader (policy, channels, contacts, probes, pagers,
templates); the environment's settings are in `bot.settings`.

`load_config(path)` validates the file and raises `ConfigError(file, key, expected)` naming
the file, the dotted key and what was expected; `${VAR}` / `${VAR:-default}` in any string
is read from the environment first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from bot.core.model import Severity
from bot.core.policy import (
    MAX_DURATION,
    Policy,
    SeverityPolicy,
    default_severities,
    parse_duration,
)
from bot.core.templates import Templates
from bot.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "incidentbot.yaml"


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads `.inf` and `1e400` as floats: bounded here, before timedelta overflows.
        if not 0 < value <= MAX_DURATION.total_seconds():  # also refuses NaN
            raise ValueError(
                f"expected a duration of more than 0s and at most 365d, got {str(value)[:40]}"
            )
        return timedelta(seconds=value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"expected a duration like 30s, 15m, 2h or 1d, got {str(value)[:40]!r}")


def _duration_or_never(value: Any) -> timedelta | str:
    if value == "never":
        return "never"
    try:
        return _duration(value)
    except ValueError as exc:
        raise ValueError(str(exc).replace(", got", ", or never; got", 1)) from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]
# One validator over the whole union, so an error names the key, not a union member.
DurationOrNever = Annotated[timedelta | Literal["never"], BeforeValidator(_duration_or_never)]
Ids = list[str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class SeverityConfig(Strict):
    """Any field omitted keeps the SPEC §1 default for that level."""

    aliases: list[str] | None = None
    """Words accepted for this level in commands (e.g. p1, critical)."""
    impact: str | None = None
    """What this level means, for responders; never shown as an incident's impact."""
    respond_within: Duration | None = None
    """Expected time to first response."""
    update_every: Duration | None = None
    """IC update cadence: the reminder fires at last update + this."""
    escalate_after: DurationOrNever | None = None
    """Still open after this escalates to the next contact in escalate_to (never: off)."""
    channel: str | None = None
    """Channel key (under channels) that announcements go to."""
    page: list[str] | None = None
    """Contact groups paged on declare (mentioned, and through the pagers)."""
    notify: list[str] | None = None
    """Contact groups mentioned on declare without paging."""
    escalate_to: list[str] | None = None
    """Contact groups climbed, in order, by timed and missed-update escalations."""
    pagers: list[str] | None = None
    """Names under pagers that page for this level (PagerDuty, Opsgenie, webhook)."""
    postmortem: Literal["required", "lightweight", "none"] | None = None
    """Post-mortem expected after resolving."""
    status_page: bool | None = None
    """Post status-page drafts on status changes."""


class PostmortemConfig(Strict):
    due_after: Duration = timedelta(hours=48)
    """The post-mortem is due this long after resolving."""
    repeat_every: Duration = timedelta(hours=24)
    """Reminder interval while the post-mortem is overdue."""


class EscalationConfig(Strict):
    missed_updates: int = Field(2, ge=0, description="missed updates in a row that escalate")


class SchedulerConfig(Strict):
    lease: Duration = timedelta(seconds=15)
    """How long a replica holds claimed timers and outbox notices; a dead replica's work is
    taken over after it. A delivery attempt is given up at 80 % of it."""
    max_idle: Duration = timedelta(seconds=5)
    """Longest the scheduler and outbox sleep before looking for work committed elsewhere."""


class PlatformConfig(Strict):
    """Per-platform overrides: channel ids differ between Slack and Discord."""

    channels: dict[str, str] = {}
    """Channel key -> this platform's channel id, over the top-level channels."""
    guild_id: str | None = None
    """Discord: sync /incident to this guild (instant); omit for global commands."""


class BotConfig(Strict):
    """The YAML configuration file (SPEC §5)."""

    channels: dict[str, str] = {
        "incidents": "incidents",
        "incidents_low": "incidents-low",
        "ops": "ops",
        "security": "security",
    }
    """Channel key -> platform channel id: incidents, incidents_low, ops (security optional)."""
    severities: dict[Severity, SeverityConfig] = {}
    """Per-level overrides of the severity policy; omitted fields keep the defaults."""
    default_severity: Severity = Severity.SEV3
    """Severity of a declaration that names none."""
    contacts: dict[str, Ids] = {}
    """Contact group -> platform user or group ids, for paging and mentions."""
    responders: Ids = []
    """User ids allowed to change any incident (besides its IC and role holders)."""
    tags: dict[str, list[str]] = {"security": ["security"], "data-loss": ["engineering_manager"]}
    """Tag -> contact groups notified at once when an incident carries it."""
    private_tags: list[str] = ["security"]
    """Tags that make an incident private (announced only in the security channel)."""
    postmortem: PostmortemConfig = PostmortemConfig()
    """When post-mortems fall due and how often they are chased."""
    escalation: EscalationConfig = EscalationConfig()
    """Missed-update escalation."""
    scheduler: SchedulerConfig = SchedulerConfig()
    """Timer claiming and polling (multi-replica deployments)."""
    probes: list[dict[str, Any]] = []
    """Diagnostic probes: name, service, kind and the kind's settings."""
    on_declare: list[str] = ["all"]
    """Probe names or services run when an incident is declared ([] for none)."""
    pagers: dict[str, dict[str, Any]] = {}
    """Named pager backends (pagerduty, opsgenie, webhook, github)."""
    templates: dict[str, str] = {}
    """Message template overrides by name."""
    platforms: dict[Literal["slack", "discord", "console"], PlatformConfig] = {}
    """Per-platform overrides (channel ids differ between Slack and Discord)."""

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: dict[str, str]) -> dict[str, str]:
        missing = {"incidents", "incidents_low", "ops"} - set(v)
        if missing:
            raise ValueError(f"expected channel ids for {', '.join(sorted(missing))}")
        return v

    def channels_for(self, platform: str) -> dict[str, str]:
        """Channel key -> id on `platform` (its overrides on top of `channels`)."""
        # No `security` fallback: a private incident is never announced in a public channel.
        merged = dict(self.channels)
        p = self.platforms.get(platform)  # type: ignore[call-overload]
        if p is not None:
            merged.update(p.channels)
        return merged

    def policy(self) -> Policy:
        """The response policy this configuration describes."""
        severities: dict[Severity, SeverityPolicy] = {}
        for sev, default in default_severities().items():
            over = self.severities.get(sev)
            if over is None:
                severities[sev] = default
                continue
            fields = {k: v for k, v in over.model_dump().items() if v is not None}
            for key in ("aliases", "page", "notify", "escalate_to", "pagers"):
                if key in fields:
                    fields[key] = tuple(fields[key])
            if fields.get("escalate_after") == "never":
                fields["escalate_after"] = None
            severities[sev] = SeverityPolicy(**{**_policy_fields(default), **fields})
        return Policy(
            severities=severities,
            contacts={k: tuple(v) for k, v in self.contacts.items()},
            responders=frozenset(self.responders),
            tag_contacts={k: tuple(v) for k, v in self.tags.items()},
            private_tags=frozenset(self.private_tags),
            default_severity=self.default_severity,
            postmortem_due=self.postmortem.due_after,
            postmortem_repeat=self.postmortem.repeat_every,
            missed_updates_to_escalate=self.escalation.missed_updates,
            security_channels=self.security_channels(),
        )

    def security_channels(self) -> dict[str, str]:
        """Platform -> its `security` channel id (`*`: the top-level one), where configured."""
        out = {"*": self.channels["security"]} if self.channels.get("security") else {}
        for name, p in self.platforms.items():
            if p.channels.get("security"):
                out[name] = p.channels["security"]
        return out

    def warnings(self, platforms: Sequence[str] = ("console", "slack", "discord")) -> list[str]:
        """What is valid but probably not meant, for the `platforms` that will run
        (check-config prints these)."""
        out: list[str] = []
        security = self.security_channels()
        missing = [p for p in platforms if not (security.get(p) or security.get("*"))]
        if missing:
            out.append(
                f"channels.security is not set ({', '.join(missing)}): private incidents"
                " (--private, a security tag) will be refused, never announced in public"
            )
        return out

    def templates_set(self) -> Templates:
        return Templates(dict(self.templates))


def _policy_fields(p: SeverityPolicy) -> dict[str, Any]:
    return {name: getattr(p, name) for name in SeverityPolicy.__slots__}


# --------------------------------------------------------------------------- loading

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(node: Any, env: Mapping[str, str], file: str, key: str) -> Any:
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(file, key or "(top)", f"environment variable {name} is not set")

        return _VAR.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand(v, env, file, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, env, file, f"{key}[{i}]") for i, v in enumerate(node)]
    return node


_UNION_MEMBER = re.compile(r"^[a-z-]+\[.*\]$|^(str|int|float|bool|timedelta|none)$")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the key is the location
            continue
        if isinstance(part, str) and _UNION_MEMBER.match(part):
            continue  # a union member's tag (e.g. `literal['never']`), not a key
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> BotConfig:
    """Reads, expands and validates the YAML file (the shipped defaults when `path` is None;
    the built-in defaults, which the shipped file spells out, where it is not installed)."""
    if path is None and not DEFAULT_CONFIG.exists():
        return BotConfig()
    file = Path(path) if path else DEFAULT_CONFIG
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(file), "(file)", "expected an existing YAML file") from None
    except IsADirectoryError:
        raise ConfigError(str(file), "(file)", "expected a YAML file, not a directory") from None
    except PermissionError:
        raise ConfigError(str(file), "(file)", "expected a file this user may read") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(file), "(file)", f"expected a UTF-8 text file (byte {exc.start} is not UTF-8)"
        ) from None
    except OSError as exc:
        expected = f"expected a readable file ({exc.strerror})"
        raise ConfigError(str(file), "(file)", expected) from None
    except RecursionError:
        raise ConfigError(str(file), "(file)", "expected YAML nested less deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError(
            str(file), where, f"expected valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(file), "(top)", "expected a mapping of configuration keys")
    expanded = _expand(raw, env, str(file), "")
    try:
        config = BotConfig.model_validate(expanded)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(str(file), _loc(tuple(err["loc"])), _expected(err)) from None
    _check_references(config, str(file))
    return config


_SIMPLE = {
    "missing": "expected a value (required)",
    "string_type": "expected a string",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
}


def _expected(err: Mapping[str, Any]) -> str:
    kind, ctx = err.get("type"), err.get("ctx") or {}
    msg = str(err.get("msg", "a valid value")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "no such key (check its spelling)"
    if kind in ("literal_error", "enum"):
        return f"expected one of {str(ctx.get('expected', '')).replace(chr(39), '')}"
    if kind in _SIMPLE:
        return _SIMPLE[str(kind)]
    for bound, words in (("gt", "more than"), ("ge", "at least"), ("le", "at most")):
        if bound in ctx:
            return f"expected a number {words} {ctx[bound]}"
    return msg


def _check_references(config: BotConfig, file: str) -> None:
    """Cross-references a schema cannot express: groups, pagers, channels, templates."""
    policy = config.policy()
    for sev, p in policy.severities.items():
        for field_name in ("page", "notify", "escalate_to"):
            for group in getattr(p, field_name):
                if group not in config.contacts and config.contacts:
                    raise ConfigError(
                        file,
                        f"severities.{sev.value}.{field_name}",
                        f"contact groups defined under contacts ({', '.join(config.contacts)});"
                        f" {group!r} is not",
                    )
        for pager in p.pagers:
            if pager not in config.pagers:
                raise ConfigError(
                    file,
                    f"severities.{sev.value}.pagers",
                    f"pager names defined under pagers; {pager!r} is not",
                )
        if p.channel not in config.channels:
            raise ConfigError(
                file, f"severities.{sev.value}.channel", f"a key of channels; {p.channel!r} is not"
            )
    aliases: dict[str, Severity] = {}
    for sev, p in policy.severities.items():
        for a in p.aliases:
            if aliases.setdefault(a.lower(), sev) is not sev:
                raise ConfigError(
                    file, f"severities.{sev.value}.aliases", f"unique aliases; {a!r} is used twice"
                )
    problems = config.templates_set().validate()
    if problems:
        name, _, expected = problems[0].partition(": ")
        raise ConfigError(file, f"templates.{name}", expected)


# --------------------------------------------------------------------------- environment
