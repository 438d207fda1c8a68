"""Parses the YAML `probes:` list into one typed model per kind.

`parse_probes(items)` takes the already-loaded list (dicts) and returns `ProbeConfig`
subclasses, or raises `ProbeConfigError` naming the probe, the key and what was expected,
e.g. ``probes[2] (db).dsn: expected a postgresql:// URL``. `${VAR}` expansion is the
settings loader's job, done before this is called. Each kind's model lives in its own
module and is found through `probes.registry.KINDS`; the models are re-exported here.

Durations are ``"500ms"``, ``"30s"``, ``"15m"``, ``"2h"``, ``"1d"`` or a number of seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from probes.base import ProbeConfig
from probes.disk import DiskProbeConfig
from probes.dns import DnsProbeConfig
from probes.http import HttpProbeConfig
from probes.kind import DURATION_HINT, SECRET_PARAMS, KindConfig, parse_duration
from probes.postgres import PostgresProbeConfig
from probes.redact import sent_fragments
from probes.redis import RedisProbeConfig
from probes.registry import KINDS
from probes.tcp import TcpProbeConfig
from probes.tls import TlsProbeConfig

__all__ = [
    "DURATION_HINT",
    "RESERVED_NAMES",
    "SECRET_PARAMS",
    "DiskProbeConfig",
    "DnsProbeConfig",
    "HttpProbeConfig",
    "PostgresProbeConfig",
    "ProbeConfigError",
    "RedisProbeConfig",
    "TcpProbeConfig",
    "TlsProbeConfig",
    "parse_duration",
    "parse_probes",
    "sent_fragments",
]


class ProbeConfigError(ValueError):
    """Invalid probe configuration. `key` locates it, `expected` says what was expected."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(f"{key}: expected {expected}")
        self.key = key
        self.expected = expected


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
        model = KINDS[str(kind)].config
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


def _first_error(exc: ValidationError, label: str, model: type[KindConfig]) -> ProbeConfigError:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    key = f"{label}.{loc}" if loc else label
    return ProbeConfigError(key, _expected(err, model))


def _expected(err: Mapping[str, Any], model: type[KindConfig]) -> str:
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
