"""The probe kinds, by name: each maps to its config model and its check builder.

Adding a kind is one module declaring ``KIND = Kind(Model, build)`` (see `probes.kind`)
and one entry below. The order here is the order `parse_probes` lists kinds in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probes import disk, dns, http, postgres, redis, tcp, tls
from probes.kind import Kind

KINDS: Mapping[str, Kind[Any]] = {
    k.name: k
    for k in (
        http.KIND,
        postgres.KIND,
        redis.KIND,
        dns.KIND,
        tls.KIND,
        tcp.KIND,
        disk.KIND,
    )
}
