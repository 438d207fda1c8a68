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

import durations
from probes.base import Probe, ProbeConfig

if TYPE_CHECKING:
    import httpx

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DURATION_HINT = "a duration like 500ms, 30s, 15m, 2h, 1d or a number of seconds"
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "sslpassword", "token", "access_token", "key", "apikey",
     "api_key", "secret", "client_secret", "auth", "signature", "sig"}
)  # fmt: skip


def parse_duration(value: object) -> float:
    """Seconds from ``"30s"``-style strings (also ``500ms``, ``1.5s``, ``0s`` and a bare
    ``"7"``) or plain numbers, up to 365 days; raises ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(DURATION_HINT)
    try:
        if isinstance(value, str):
            return durations.parse_seconds(
                value, allow_ms=True, allow_fraction=True, allow_bare_number=True, allow_zero=True
            )
        return durations.bounded(float(value))
    except durations.NotADuration:
        raise ValueError(DURATION_HINT) from None
    except durations.TooLong:
        raise ValueError(f"a duration of at most 365d, got {str(value)[:40]!r}") from None


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
