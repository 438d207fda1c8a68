"""TCP probe: connect to `host:port`; optionally send a line and expect a substring back.

Reads at most 1024 bytes of reply (like Gatus). The runner's deadline bounds a silent
server; a reply that closes without the expected text is a fail. A reply is shown only
through `mask_echo`: the text sent (often `AUTH <password>`) never appears in a result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from probes.base import Findings, ProbeResult, Status, describe, fmt_ms, single
from probes.kind import Duration, Kind, KindConfig, Port, Threshold
from probes.redact import mask_echo, sent_fragments

MAX_REPLY = 1024


class TcpProbeConfig(KindConfig):
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


class TcpProbe:
    def __init__(self, config: TcpProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        cfg = self.config
        target = f"{cfg.host}:{cfg.port}"
        try:
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        except OSError as exc:
            return single(cfg, Status.FAIL, f"{target} unreachable: {describe(exc)}", started)
        connect_s = time.perf_counter() - started
        f = Findings()
        try:
            if connect_s >= cfg.warn_latency:
                f.warn(f"connected to {target} in {fmt_ms(connect_s)} ≥ {fmt_ms(cfg.warn_latency)}")
            else:
                f.ok(f"connected to {target} in {fmt_ms(connect_s)}")
            if cfg.send is not None:
                writer.write(cfg.send.encode())
                await writer.drain()
            if cfg.expect is not None:
                reply = await _read_until(reader, cfg.expect.encode())
                # Masked before the cut, so a credential split at the cut is masked whole.
                masked = mask_echo(reply.decode("utf-8", "replace"), cfg.send)
                shown = " ".join(masked.split())[:80]
                if cfg.expect.encode() in reply:
                    f.ok(f"reply contains {cfg.expect!r}")
                else:
                    f.fail(f"reply {shown!r} does not contain {cfg.expect!r}")
        except OSError as exc:
            f.fail(f"connection dropped: {describe(exc)}")
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except (TimeoutError, OSError):
                pass
        return f.result(cfg, f"connected in {fmt_ms(connect_s)}", started)


async def _read_until(reader: asyncio.StreamReader, needle: bytes) -> bytes:
    buf = b""
    while needle not in buf and len(buf) < MAX_REPLY:
        chunk = await reader.read(MAX_REPLY - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


KIND = Kind(TcpProbeConfig, lambda cfg, _client: TcpProbe(cfg))
