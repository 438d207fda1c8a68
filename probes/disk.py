"""Disk probe: free space and free inodes of the filesystem holding a configured path.

`statvfs` runs in a worker thread: on a hung network mount it blocks, and it must block a
thread rather than the event loop, so the runner's deadline still fires. Free space is what
an unprivileged process may use (`f_bavail`), as `df` shows it.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Literal

from pydantic import model_validator

from probes.base import Findings, ProbeResult, Status, describe, fmt_bytes, single
from probes.kind import Kind, KindConfig, Percent


class DiskProbeConfig(KindConfig):
    """Free space and free inodes of the filesystem holding `path`."""

    kind: Literal["disk"] = "disk"
    path: str
    warn_free_pct: Percent = 20.0
    fail_free_pct: Percent = 10.0
    warn_inodes_free_pct: Percent = 20.0
    fail_inodes_free_pct: Percent = 10.0

    @model_validator(mode="after")
    def _ordered(self) -> DiskProbeConfig:
        if self.fail_free_pct > self.warn_free_pct:
            raise ValueError("fail_free_pct no greater than warn_free_pct")
        if self.fail_inodes_free_pct > self.warn_inodes_free_pct:
            raise ValueError("fail_inodes_free_pct no greater than warn_inodes_free_pct")
        return self


class DiskProbe:
    def __init__(self, config: DiskProbeConfig) -> None:
        self.config = config

    async def check(self) -> ProbeResult:
        started = time.perf_counter()
        cfg = self.config
        try:
            st = await asyncio.to_thread(os.statvfs, cfg.path)
        except FileNotFoundError:
            return single(cfg, Status.FAIL, f"{cfg.path}: no such file or directory", started)
        except OSError as exc:
            return single(cfg, Status.FAIL, f"{cfg.path}: {describe(exc)}", started)
        f = Findings()
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        free_pct = 100.0 * free / total if total else 0.0
        text = f"{cfg.path}: {fmt_bytes(free)} free of {fmt_bytes(total)} ({free_pct:.1f} % free)"
        self._grade(f, free_pct, cfg.warn_free_pct, cfg.fail_free_pct, text)
        if st.f_files > 0:
            inodes_pct = 100.0 * st.f_favail / st.f_files
            itext = f"inodes: {st.f_favail} free of {st.f_files} ({inodes_pct:.1f} % free)"
            self._grade(f, inodes_pct, cfg.warn_inodes_free_pct, cfg.fail_inodes_free_pct, itext)
        else:
            f.na("inodes: this filesystem does not report them")
        return f.result(cfg, f"{free_pct:.0f} % free ({fmt_bytes(free)})", started)

    @staticmethod
    def _grade(f: Findings, pct: float, warn: float, fail: float, text: str) -> None:
        if pct < fail:
            f.fail(f"{text} < {fail:g} %")
        elif pct < warn:
            f.warn(f"{text} < {warn:g} %")
        else:
            f.ok(text)


KIND = Kind(DiskProbeConfig, lambda cfg, _client: DiskProbe(cfg))
