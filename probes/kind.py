"""What a probe kind declares: its config model and how to build its check.

A kind is one module (`probes/http.py`, `probes/tcp.py`, …) that defines a `KindConfig`
subclass with a ``kind: Literal["<name>"]`` field and exports ``KIND = Kind(Model, build)``;
`probes.registry` lists the modules. The shared field types (durations, thresholds,
percentages, ports) and the URL-secret helper live here so kind modules need nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from pydantic import BeforeValidator, ConfigDict, Field

from probes.base import Probe, ProbeConfig

if TYPE_CHECKING:
    import httpx

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DURATION_HINT = "a duration like 500ms, 30s, 15m, 2h, 1d or a number of seconds"
MAX_SECONDS = 365 * 86400.0  # as bot.core.policy.MAX_DURATION: beyond it a typo, not a policy
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "sslpassword", "token", "access_token", "key", "apikey",
     "api_key", "secret", "client_secret", "auth", "signature", "sig"}
)  # fmt: skip


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


def url_secrets(url: str) -> list[str]:
    """The password and secret-looking query values of `url`, decoded and raw."""
    parts = urlsplit(url)
    found = [unquote(parts.password), parts.password] if parts.password else []
    for k, v in parse_qsl(parts.query):
        if k.lower() in SECRET_PARAMS and v:
            found.append(v)
    return list(dict.fromkeys(found))  # decoded form first; raw form if it differs


class KindConfig(ProbeConfig):
    """Base of every kind's config model: strict (unknown keys rejected), frozen, named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=_NAME)]
    service: Annotated[str, Field(pattern=_NAME)]
    timeout: Duration = 5.0


C = TypeVar("C", bound=KindConfig)


@dataclass(frozen=True, slots=True)
class Kind(Generic[C]):
    """One probe kind: its config model and `build(config, shared_http_client) -> Probe`.

    The shared client is the run's `httpx.AsyncClient` (or None when no probe of the run
    asked for it, see `ProbeConfig.shares_http_client`); kinds that do not speak HTTP
    ignore it. The kind's name is the default of the model's `kind` field.
    """

    config: type[C]
    build: Callable[[C, httpx.AsyncClient | None], Probe]

    @property
    def name(self) -> str:
        return str(self.config.model_fields["kind"].default)


def check_port(parts: SplitResult, what: str) -> None:
    """A port in the URL, if any, is a number from 1 to 65535."""
    try:
        port = parts.port  # raises ValueError when not a number or over 65535
    except ValueError:
        port = 0
    if port == 0 or (port is None and re.search(r":[^@\]]*$", parts.netloc)):
        raise ValueError(f"{what} with a port from 1 to 65535")
