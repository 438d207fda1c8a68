"""Real loopback servers for the probe tests: HTTP (aiohttp), a silent TCP server, a tiny
DNS resolver (UDP, dnspython's message building) and TLS servers with generated certs."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import cast

import dns.message
import dns.rcode
import dns.rrset
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# ----------------------------------------------------------------------------- HTTP


def http_app() -> web.Application:
    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "data": {"items": [{"id": 1}]}})

    async def unavailable(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0.3")))
        return web.Response(text="slow ok")

    async def hang(_: web.Request) -> web.Response:
        await asyncio.Event().wait()  # until the client goes away (handler cancellation)
        raise AssertionError("unreachable")

    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = 100
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"x")
            await asyncio.sleep(0.5)
        return resp

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def reason(request: web.Request) -> web.Response:
        # A server that echoes the request's query string in its status line.
        return web.Response(status=500, reason=f"bad {request.query_string}")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/503", unavailable)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hang", hang)
    app.router.add_get("/trickle", trickle)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/reason", reason)
    return app


@asynccontextmanager
async def http_server(app: web.Application | None = None) -> AsyncIterator[str]:
    """Serves `app` on 127.0.0.1; yields the base URL."""
    runner = web.AppRunner(
        app or http_app(), shutdown_timeout=0.2, handler_cancellation=True, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# ----------------------------------------------------------------------------- TCP


@asynccontextmanager
async def silent_server(banner: bytes = b"") -> AsyncIterator[int]:
    """Accepts connections, optionally writes `banner`, then never answers. Yields the port."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if banner:
            writer.write(banner)
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


# ----------------------------------------------------------------------------- DNS


class TinyResolver(asyncio.DatagramProtocol):
    """Answers A queries: api.test. -> two addresses; missing.test. -> NXDOMAIN;
    broken.test. -> SERVFAIL; empty.test. -> NOERROR without answers; hang.test. -> silence;
    slow.test. -> answers after 0.6 s."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text()
        response = dns.message.make_response(query)
        if name in ("api.test.", "slow.test."):
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "10.0.0.1", "10.0.0.2"))
        elif name == "missing.test.":
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif name == "broken.test.":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name == "hang.test.":
            return
        assert self.transport is not None
        wire = response.to_wire()
        if name == "slow.test.":
            asyncio.get_running_loop().call_later(0.6, self.transport.sendto, wire, addr)
        else:
            self.transport.sendto(wire, addr)


@asynccontextmanager
async def dns_server() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(TinyResolver, local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


# ----------------------------------------------------------------------------- TLS


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certs(directory: Path, *, days_left: float) -> tuple[Path, Path, Path]:
    """A CA and a localhost/127.0.0.1 leaf it signs that expires in `days_left` days
    (negative: already expired). Returns (ca.pem, leaf.pem, leaf.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("probe test CA"))
        .issuer_name(_name("probe test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=20))
        .not_valid_after(now + dt.timedelta(days=days_left))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, leaf_pem, key_pem = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_pem, leaf_pem, key_pem


@asynccontextmanager
async def tls_server(cert: Path, key: Path) -> AsyncIterator[int]:
    """A TLS server that completes handshakes and closes. Yields the port."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with suppress(OSError, ssl.SSLError):
            await reader.read(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()
