"""Parses the YAML `probes:` list into one typed model per kind.

`parse_probes(items)` takes the already-loaded list (dicts) and returns `ProbeConfig`
subclasses, or raises `ProbeConfigError` naming the probe, the key and what was expected,
e.g. ``probes[2] (db).dsn: expected a postgresql:// URL``. `${VAR}` expansion is the
settings loader's job, done before this is called.

Durations are ``"500ms"``, ``"30s"``, ``"15m"``, ``"2h"``, ``"1d"`` or a number of seconds.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from probes.base import ProbeConfig

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_SECONDS = 365 * 86400.0  # as bot.core.policy.MAX_DURATION: beyond it a typo, not a policy
DURATION_HINT = "a duration like 500ms, 30s, 15m, 2h, 1d or a number of seconds"
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "sslpassword", "token", "access_token", "key", "apikey",
     "api_key", "secret", "client_secret", "auth", "signature", "sig"}
)  # fmt: skip


class ProbeConfigError(ValueError):
    """Invalid probe configuration. `key` locates it, `expected` says what was expected."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(f"{key}: expected {expected}")
        self.key = key
        self.expected = expected


def parse_duration(value: object) -> float:
    """Seconds from ``"30s"``-style strings or plain numbers; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(DURATION_HINT)
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None:
        raise ValueError(DURATION_HINT)
    if not seconds <= MAX_SECONDS:  # also refuses .inf and .nan
        raise ValueError(f"a duration of at most 365d, got {str(value)[:40]!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Threshold = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Port = Annotated[int, Field(ge=1, le=65535)]


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [unquote(parts.password), parts.password] if parts.password else []
    for k, v in parse_qsl(parts.query):
        if k.lower() in SECRET_PARAMS and v:
            found.append(v)
    return list(dict.fromkeys(found))  # decoded form first; raw form if it differs


def _check_port(parts: SplitResult, what: str) -> None:
    """A port in the URL, if any, is a number from 1 to 65535."""
    try:
        port = parts.port  # raises ValueError when not a number or over 65535
    except ValueError:
        port = 0
    if port == 0 or (port is None and re.search(r":[^@\]]*$", parts.netloc)):
        raise ValueError(f"{what} with a port from 1 to 65535")


class _Base(ProbeConfig):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=_NAME)]
    service: Annotated[str, Field(pattern=_NAME)]
    timeout: Duration = 5.0


class HttpProbeConfig(_Base):
    """GET/HEAD `url`; status in `expect_status` (default 200–399); latency; body checks."""

    kind: Literal["http"] = "http"
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    warn_latency: Threshold = 1.0
    body_contains: str | None = None
    json_path: str | None = None
    json_equals: Any = None
    follow_redirects: bool = True
    verify: bool = True
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL")
        _check_port(parts, "an http:// or https:// URL")
        return v

    def secrets(self) -> list[str]:
        return _url_secrets(self.url) + list(self.headers.values())


class PostgresProbeConfig(_Base):
    """Readiness and diagnostics of one PostgreSQL database (use a pg_monitor role)."""

    kind: Literal["postgres"] = "postgres"
    dsn: str
    statement_timeout: Duration = 3.0
    lock_timeout: Duration = 1.0
    long_query: Threshold = 30.0
    long_query_fail: Threshold = 300.0
    lock_wait_warn: Threshold = 10.0
    lock_wait_fail: Threshold = 60.0
    warn_connections_pct: Percent = 80.0
    fail_connections_pct: Percent = 100.0

    @field_validator("dsn")
    @classmethod
    def _pg_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("a postgresql:// URL")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ValueError("a postgresql:// URL with a numeric port") from None
        return v

    def target_key(self) -> str | None:
        parts = urlsplit(self.dsn)
        return f"postgres:{parts.hostname}:{parts.port or 5432}{parts.path}"

    def secrets(self) -> list[str]:
        return _url_secrets(self.dsn)


class RedisProbeConfig(_Base):
    """PING, INFO and SLOWLOG of one Redis (use an ACL user limited to those commands)."""

    kind: Literal["redis"] = "redis"
    url: str
    socket_timeout: Duration | None = None
    warn_memory_pct: Percent = 90.0
    warn_clients_pct: Percent = 90.0
    warn_hit_ratio: Annotated[float, Field(ge=0, le=1)] = 0.8
    sample_interval: Threshold = 0.0
    slowlog_count: Annotated[int, Field(ge=0, le=128)] = 10
    slowlog_min: Threshold = 0.01  # list only entries at least this slow (Redis' own default)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        _check_port(parts, "a redis:// URL")
        return v

    @_model_validator(mode="after")
    def _sample_fits(self) -> RedisProbeConfig:
        if self.sample_interval >= self.timeout:
            raise ValueError("sample_interval shorter than timeout")
        return self

    def target_key(self) -> str | None:
        parts = urlsplit(self.url)
        return f"redis:{parts.hostname}:{parts.port or 6379}{parts.path}"

    def secrets(self) -> list[str]:
        return _url_secrets(self.url)


class DnsProbeConfig(_Base):
    """Resolves `host` (record `type`) via the system or a configured nameserver."""

    kind: Literal["dns"] = "dns"
    timeout: Duration = 3.0
    host: str
    type: Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "PTR", "SOA", "CAA"] = "A"
    nameserver: str | None = None
    port: Port = 53
    tcp: bool = False
    expect: list[str] | None = None
    warn_latency: Threshold = 0.5

    @field_validator("nameserver")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ipaddress.ip_address(v)
            except ValueError:
                raise ValueError("an IP address") from None
        return v


class TlsProbeConfig(_Base):
    """Verified TLS handshake with `host:port`; days until the certificate expires."""

    kind: Literal["tls"] = "tls"
    host: str
    port: Port = 443
    server_name: str | None = None
    ca_file: str | None = None
    warn_days: Annotated[float, Field(ge=0)] = 14
    fail_days: Annotated[float, Field(ge=0)] = 3

    @_model_validator(mode="after")
    def _ordered(self) -> TlsProbeConfig:
        if self.fail_days > self.warn_days:
            raise ValueError("fail_days no greater than warn_days")
        return self


class TcpProbeConfig(_Base):
    """Connects to `host:port`; optionally sends `send` and expects `expect` in the reply.

    The `send` text is never shown in a result (a server that echoes it gets `***`); with
    `secret: true` (`send: "AUTH ${REDIS_PASSWORD}\r\n"`) it is also masked wherever else
    it could surface, like any configured password.
    """

    kind: Literal["tcp"] = "tcp"
    timeout: Duration = 3.0
    host: str
    port: Port
    send: str | None = None
    secret: bool = False
    expect: str | None = None
    warn_latency: Threshold = 1.0

    def secrets(self) -> list[str]:
        if not self.secret or not self.send:
            return []
        return sent_fragments(self.send)


def sent_fragments(send: str) -> list[str]:
    """`send` as a whole and line by line, trimmed: the forms an echo can show it in."""
    lines = [line.strip() for line in send.splitlines()]
    return list(dict.fromkeys(f for f in [send, send.strip(), *lines] if f))


class DiskProbeConfig(_Base):
    """Free space and free inodes of the filesystem holding `path`."""

    kind: Literal["disk"] = "disk"
    path: str
    warn_free_pct: Percent = 20.0
    fail_free_pct: Percent = 10.0
    warn_inodes_free_pct: Percent = 20.0
    fail_inodes_free_pct: Percent = 10.0

    @_model_validator(mode="after")
    def _ordered(self) -> DiskProbeConfig:
        if self.fail_free_pct > self.warn_free_pct:
            raise ValueError("fail_free_pct no greater than warn_free_pct")
        if self.fail_inodes_free_pct > self.warn_inodes_free_pct:
            raise ValueError("fail_inodes_free_pct no greater than warn_inodes_free_pct")
        return self


KINDS: dict[str, type[_Base]] = {
    "http": HttpProbeConfig,
    "postgres": PostgresProbeConfig,
    "redis": RedisProbeConfig,
    "dns": DnsProbeConfig,
    "tls": TlsProbeConfig,
    "tcp": TcpProbeConfig,
    "disk": DiskProbeConfig,
}

RESERVED_NAMES = frozenset({"all"})


def parse_probes(items: object, *, where: str = "probes") -> list[ProbeConfig]:
    """Validates the `probes:` list; raises `ProbeConfigError` on the first problem.

    Checks, beyond each kind's fields: the list shape, a known `kind`, unique probe names,
    and that no name or service is the reserved word `all`.
    """
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ProbeConfigError(where, "a list of probes")
    parsed: list[ProbeConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ProbeConfigError(f"{where}[{i}]", "a mapping like {name: api, kind: http, …}")
        raw_name = item.get("name")
        label = f"{where}[{i}] ({raw_name})" if isinstance(raw_name, str) else f"{where}[{i}]"
        kind = item.get("kind")
        if kind not in KINDS:
            raise ProbeConfigError(f"{label}.kind", f"one of {', '.join(KINDS)}")
        model = KINDS[str(kind)]
        try:
            cfg = model.model_validate(dict(item))
        except ValidationError as exc:
            raise _first_error(exc, label, model) from None
        for field in ("name", "service"):
            if getattr(cfg, field) in RESERVED_NAMES:
                raise ProbeConfigError(f"{label}.{field}", "any name but the reserved word 'all'")
        if cfg.name in seen:
            raise ProbeConfigError(
                f"{label}.name", f"a unique probe name ({where}[{seen[cfg.name]}] uses it)"
            )
        seen[cfg.name] = i
        parsed.append(cfg)
    return parsed


def _first_error(exc: ValidationError, label: str, model: type[_Base]) -> ProbeConfigError:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    key = f"{label}.{loc}" if loc else label
    return ProbeConfigError(key, _expected(err, model))


def _expected(err: Mapping[str, Any], model: type[_Base]) -> str:
    kind, ctx, msg = err["type"], err.get("ctx") or {}, str(err["msg"])
    if kind == "missing":
        return "a value (required)"
    if kind == "extra_forbidden":
        known = ", ".join(k for k in model.model_fields if k != "kind")
        return f"a known key for this kind ({known})"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    simple = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "a mapping",
        "string_pattern_mismatch": "letters, digits, '.', '_' or '-' (at most 64)",
    }
    if kind in simple:
        return simple[kind]
    for bound, words in (("gt", "greater than"), ("ge", "at least"), ("lt", "less than")):
        if bound in ctx:
            return f"a value {words} {ctx[bound]}"
    if "le" in ctx:
        return f"a value of at most {ctx['le']}"
    return msg[0].lower() + msg[1:] if msg else kind
