"""DNS probe (dnspython's async resolver): rcode, answers, latency.

Not `loop.getaddrinfo`: that runs in the default thread pool and a cancelled lookup keeps
its thread, so a burst of hung lookups could starve the pool. dnspython speaks UDP/TCP on
the event loop, gives the rcode, and honours `lifetime`.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.rcode
import dns.resolver
from pydantic import field_validator

from probes.base import Findings, ProbeResult, Status, describe, fmt_ms, single
from probes.kind import Duration, Kind, KindConfig, Port, Threshold


def resolver_for(cfg: DnsProbeConfig) -> dns.asyncresolver.Resolver:
    """The system resolver, or only `nameserver:port` when configured."""
    if cfg.nameserver is None:
        resolver = dns.asyncresolver.Resolver(configure=True)
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [cfg.nameserver]
        resolver.port = cfg.port
    resolver.timeout = min(2.0, cfg.timeout)
    resolver.lifetime = cfg.timeout
    return resolver


class DnsProbeConfig(KindConfig):
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


class DnsProbe:
    def __init__(self, config: DnsProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        cfg = self.config
        where = f" via {cfg.nameserver}:{cfg.port}" if cfg.nameserver else ""
        try:
            answer = await resolver_for(cfg).resolve(
                cfg.host, cfg.type, tcp=cfg.tcp, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return single(cfg, Status.FAIL, f"{cfg.host}: NXDOMAIN{where}", started)
        except dns.resolver.NoNameservers as exc:
            return single(cfg, Status.FAIL, f"{cfg.host}: {_rcode_text(exc)}{where}", started)
        except dns.exception.Timeout:
            return single(
                cfg, Status.FAIL, f"{cfg.host}: no answer within {cfg.timeout:g} s{where}", started
            )
        except dns.exception.DNSException as exc:
            return single(cfg, Status.ERROR, f"{cfg.host}: {describe(exc)}", started)
        latency = time.perf_counter() - started
        f = Findings()
        values = sorted(rr.to_text() for rr in answer.rrset) if answer.rrset is not None else []
        if not values:
            f.fail(f"{cfg.host}: no {cfg.type} records (NOERROR, empty answer){where}")
        else:
            f.ok(
                f"{cfg.host} {cfg.type}: {', '.join(values[:8])}"
                + (" …" if len(values) > 8 else "")
            )
        if cfg.expect is not None and values:
            missing = [v for v in cfg.expect if _norm(v) not in {_norm(x) for x in values}]
            if missing:
                f.fail(f"expected {', '.join(missing)} among the answers")
            else:
                f.ok("answers include every expected value")
        if latency >= cfg.warn_latency:
            f.warn(f"latency {fmt_ms(latency)} ≥ {fmt_ms(cfg.warn_latency)}")
        else:
            f.ok(f"latency {fmt_ms(latency)}{where}")
        return f.result(cfg, f"{len(values)} {cfg.type} in {fmt_ms(latency)}", started)


def _norm(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _rcode_text(exc: dns.resolver.NoNameservers) -> str:
    """`SERVFAIL`/`REFUSED`… from the servers' answers, else the exception's own text."""
    for error in exc.kwargs.get("errors", []):
        response = error[4] if len(error) > 4 else None
        if response is not None and hasattr(response, "rcode"):
            return str(dns.rcode.to_text(response.rcode()))
    return " ".join(str(exc).split())


KIND = Kind(DnsProbeConfig, lambda cfg, _client: DnsProbe(cfg))
