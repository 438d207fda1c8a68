"""TLS probe: a verified handshake (chain + hostname) and days until the leaf expires.

`getpeercert()` is empty when verification fails, so on a verification error we keep the
reason (the fail headline), reconnect without verification, read the DER leaf and parse
its `notAfter` with cryptography: an expired or self-signed certificate still reports its
days left. Only the leaf's expiry is read (chain expiry is a later feature).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import Field, model_validator

from probes.base import Findings, ProbeResult, Status, describe, single
from probes.kind import Kind, KindConfig, Port


def _context(cfg: TlsProbeConfig, verify: bool) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cafile=cfg.ca_file)
    return ctx


async def _handshake(cfg: TlsProbeConfig, verify: bool) -> tuple[bytes, str, str]:
    """(DER leaf, TLS version, cipher) after a handshake; the connection is closed."""
    _, writer = await asyncio.open_connection(
        cfg.host,
        cfg.port,
        ssl=_context(cfg, verify),
        server_hostname=cfg.server_name or cfg.host,
        ssl_handshake_timeout=cfg.timeout,
    )
    try:
        sslobj: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        version = (sslobj.version() if sslobj is not None else None) or "?"
        cipher = sslobj.cipher() if sslobj is not None else None
        if der is None:
            raise ssl.SSLError("server presented no certificate")
        return der, version, cipher[0] if cipher else "?"
    finally:
        writer.close()
        try:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            pass


class TlsProbeConfig(KindConfig):
    """Verified TLS handshake with `host:port`; days until the certificate expires."""

    kind: Literal["tls"] = "tls"
    host: str
    port: Port = 443
    server_name: str | None = None
    ca_file: str | None = None
    warn_days: Annotated[float, Field(ge=0)] = 14
    fail_days: Annotated[float, Field(ge=0)] = 3

    @model_validator(mode="after")
    def _ordered(self) -> TlsProbeConfig:
        if self.fail_days > self.warn_days:
            raise ValueError("fail_days no greater than warn_days")
        return self


class TlsProbe:
    def __init__(self, config: TlsProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        cfg = self.config
        f = Findings()
        target = f"{cfg.host}:{cfg.port}"
        try:
            try:
                der, version, cipher = await _handshake(cfg, verify=True)
                f.ok(f"verified chain and hostname ({version}, {cipher})")
            except ssl.SSLCertVerificationError as exc:
                f.fail(f"certificate verify failed: {exc.verify_message or describe(exc)}")
                der, version, cipher = await _handshake(cfg, verify=False)
        except ssl.SSLError as exc:
            return single(
                cfg, Status.FAIL, f"TLS handshake with {target} failed: {describe(exc)}", started
            )
        except (OSError, TimeoutError) as exc:
            return single(cfg, Status.FAIL, f"{target} unreachable: {describe(exc)}", started)
        cert = x509.load_der_x509_certificate(der)
        not_after = cert.not_valid_after_utc
        days = (not_after - datetime.now(UTC)).total_seconds() / 86400
        f.info(f"subject {_cn(cert.subject)}, issuer {_cn(cert.issuer)}")
        when = not_after.strftime("%Y-%m-%d %H:%M UTC")
        if days < 0:
            f.fail(f"certificate expired {-days:.1f} days ago ({when})")
        elif days < cfg.fail_days:
            f.fail(f"certificate expires in {days:.1f} days ({when}) < {cfg.fail_days:g}")
        elif days < cfg.warn_days:
            f.warn(f"certificate expires in {days:.1f} days ({when}) < {cfg.warn_days:g}")
        else:
            f.ok(f"certificate expires in {days:.0f} days ({when})")
        return f.result(cfg, f"{version}, certificate valid {days:.0f} more days", started)


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string() or "(empty)"


KIND = Kind(TlsProbeConfig, lambda cfg, _client: TlsProbe(cfg))
