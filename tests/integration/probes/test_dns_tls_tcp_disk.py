"""DNS against a tiny loopback resolver, TLS against generated certificates, TCP against
real sockets and disk against a real tmp path."""

from __future__ import annotations

import os
import time
from pathlib import Path

from probes.base import ProbeResult, Status
from probes.config import parse_probes
from probes.runner import Runner
from tests.integration.probes.servers import dns_server, make_certs, silent_server, tls_server


async def run_one(kind: str, **probe: object) -> ProbeResult:
    config = {"name": "p", "service": "svc", "kind": kind, **probe}
    return (await Runner(parse_probes([config])).run(["p"])).results[0]


# ----------------------------------------------------------------------------- DNS


async def test_dns_answers_rcodes_and_expectations() -> None:
    async with dns_server() as port:
        ns = {"nameserver": "127.0.0.1", "port": port}
        ok = await run_one("dns", host="api.test", expect=["10.0.0.2"], **ns)
        wrong = await run_one("dns", host="api.test", expect=["10.9.9.9"], **ns)
        nx = await run_one("dns", host="missing.test", **ns)
        servfail = await run_one("dns", host="broken.test", **ns)
        empty = await run_one("dns", host="empty.test", **ns)
        slow = await run_one("dns", host="slow.test", warn_latency="300ms", **ns)
        t0 = time.perf_counter()
        hung = await run_one("dns", host="hang.test", timeout="500ms", **ns)
        hung_wall = time.perf_counter() - t0
    assert ok.status is Status.OK
    assert "✓ api.test A: 10.0.0.1, 10.0.0.2" in ok.details
    assert wrong.status is Status.FAIL
    assert wrong.summary == "expected 10.9.9.9 among the answers"
    assert nx.status is Status.FAIL
    assert nx.summary == f"api.test: NXDOMAIN via 127.0.0.1:{port}".replace("api", "missing")
    assert servfail.status is Status.FAIL
    assert servfail.summary == f"broken.test: SERVFAIL via 127.0.0.1:{port}"
    assert empty.status is Status.FAIL
    assert empty.summary.startswith("empty.test: no A records")
    assert slow.status is Status.WARN
    assert hung.status in (Status.FAIL, Status.ERROR)
    assert hung_wall < 1.2


# ----------------------------------------------------------------------------- TLS


async def test_tls_certificate_expiring_in_two_days(tmp_path: Path) -> None:
    ca, cert, key = make_certs(tmp_path, days_left=2)
    async with tls_server(cert, key) as port:
        target = {"host": "127.0.0.1", "port": port, "server_name": "localhost", "ca_file": str(ca)}
        warn = await run_one("tls", warn_days=14, fail_days=1, **target)
        fail = await run_one("tls", **target)  # default fail_days 3
    assert warn.status is Status.WARN
    assert warn.summary.startswith("certificate expires in 2.0 days (")
    assert warn.details[0].startswith("✓ verified chain and hostname (TLSv1.3")
    assert "· subject localhost, issuer probe test CA" in warn.details
    assert fail.status is Status.FAIL
    assert fail.summary.startswith("certificate expires in 2.0 days")


async def test_tls_verification_failure_still_reports_days(tmp_path: Path) -> None:
    _, cert, key = make_certs(tmp_path, days_left=40)
    async with tls_server(cert, key) as port:
        untrusted = await run_one("tls", host="127.0.0.1", port=port, server_name="localhost")
    assert untrusted.status is Status.FAIL
    assert untrusted.summary.startswith("certificate verify failed: unable to get local issuer")
    assert any(d.startswith("✓ certificate expires in 40 days") for d in untrusted.details)


async def test_tls_expired_certificate(tmp_path: Path) -> None:
    ca, cert, key = make_certs(tmp_path, days_left=-3)
    async with tls_server(cert, key) as port:
        r = await run_one("tls", host="127.0.0.1", port=port, ca_file=str(ca))
    assert r.status is Status.FAIL
    assert r.summary.startswith("certificate verify failed: certificate has expired")
    assert any(d.startswith("✗ certificate expired 3.0 days ago") for d in r.details)


async def test_tls_unreachable_and_not_tls(unused_port: int) -> None:
    refused = await run_one("tls", host="127.0.0.1", port=unused_port)
    assert refused.status is Status.FAIL
    assert refused.summary.startswith(f"127.0.0.1:{unused_port} unreachable")
    async with silent_server(banner=b"SSH-2.0-OpenSSH\r\n") as port:
        plain = await run_one("tls", host="127.0.0.1", port=port, timeout="1s")
    assert plain.status is Status.FAIL
    assert plain.summary.startswith(f"TLS handshake with 127.0.0.1:{port} failed")


# ----------------------------------------------------------------------------- TCP


async def test_tcp_connect_banner_and_silence(unused_port: int) -> None:
    async with silent_server(banner=b"SSH-2.0-OpenSSH_9.2\r\n") as port:
        ok = await run_one("tcp", host="127.0.0.1", port=port, expect="SSH-2.0")
        plain = await run_one("tcp", host="127.0.0.1", port=port)
    assert ok.status is Status.OK
    assert "✓ reply contains 'SSH-2.0'" in ok.details
    assert plain.status is Status.OK
    assert plain.summary.startswith("connected in ")
    async with silent_server() as port:
        t0 = time.perf_counter()
        silent = await run_one("tcp", host="127.0.0.1", port=port, expect="+OK", timeout="400ms")
        assert time.perf_counter() - t0 < 1.1
    assert silent.status is Status.ERROR
    assert silent.summary == "timed out after 0.4s"
    refused = await run_one("tcp", host="127.0.0.1", port=unused_port)
    assert refused.status is Status.FAIL
    assert "ConnectionRefusedError" in refused.summary


async def test_tcp_send_and_expect_against_redis(redis_url: str) -> None:
    from urllib.parse import urlsplit

    p = urlsplit(redis_url)
    pong = await run_one(
        "tcp", host=p.hostname, port=p.port or 6379, send="PING\r\n", expect="PONG"
    )
    wrong = await run_one(
        "tcp", host=p.hostname, port=p.port or 6379, send="PING\r\nQUIT\r\n", expect="HELLO"
    )
    assert pong.status is Status.OK
    assert wrong.status is Status.FAIL
    assert wrong.summary.startswith("reply '+PONG")


# ----------------------------------------------------------------------------- disk


async def test_disk_space_and_inode_thresholds(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    free_pct = 100.0 * st.f_bavail / st.f_blocks
    inode_pct = 100.0 * st.f_favail / st.f_files if st.f_files else 100.0
    below = max(0.0, min(free_pct, inode_pct) - 1)
    ok = await run_one(
        "disk", path=str(tmp_path), warn_free_pct=below, fail_free_pct=0,
        warn_inodes_free_pct=0, fail_inodes_free_pct=0,
    )  # fmt: skip
    warn = await run_one(
        "disk", path=str(tmp_path), warn_free_pct=min(100, free_pct + 1), fail_free_pct=0,
        warn_inodes_free_pct=0, fail_inodes_free_pct=0,
    )  # fmt: skip
    fail = await run_one(
        "disk", path=str(tmp_path), warn_free_pct=100, fail_free_pct=min(100, free_pct + 1),
        warn_inodes_free_pct=0, fail_inodes_free_pct=0,
    )  # fmt: skip
    missing = await run_one("disk", path=str(tmp_path / "nope"))
    assert ok.status is Status.OK
    assert ok.details[0].startswith(f"✓ {tmp_path}: ")
    assert warn.status is Status.WARN
    assert warn.summary.endswith(f"< {min(100, free_pct + 1):g} %")
    assert fail.status is Status.FAIL
    assert missing.status is Status.FAIL
    assert missing.summary == f"{tmp_path / 'nope'}: no such file or directory"
