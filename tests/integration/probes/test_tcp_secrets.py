"""A TCP probe never shows what it sent (SPEC §7: a probe's `send` text is a credential):
real loopback servers that echo what they receive, or quote a password back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from probes.base import ProbeResult, Status
from probes.config import parse_probes
from probes.runner import Runner

PASSWORD = "Zq9-tcp-pw-77"


@asynccontextmanager
async def echo_server(greeting: bytes = b"", reply: bytes | None = None) -> AsyncIterator[int]:
    """Writes `greeting`, then answers the first chunk received with `reply`, or with the
    chunk itself (an echo), and closes. Yields the port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        data = await reader.read(1024)
        writer.write(reply if reply is not None else data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def run_tcp(port: int, **probe: object) -> ProbeResult:
    config = {"name": "p", "service": "svc", "kind": "tcp", "host": "127.0.0.1", "port": port}
    return (await Runner(parse_probes([{**config, **probe}])).run(["p"])).results[0]


def shown(result: ProbeResult) -> str:
    return "\n".join([result.summary, *result.details])


async def test_an_echoed_send_text_is_never_shown() -> None:
    send = f"AUTH default {PASSWORD}\r\n"
    async with echo_server(greeting=b"+HELLO\r\n") as port:
        plain = await run_tcp(port, send=send, expect="+OK")
        secret = await run_tcp(port, send=send, expect="+OK", secret=True)
    for result in (plain, secret):
        assert result.status is Status.FAIL
        assert result.summary == "reply '+HELLO ***' does not contain '+OK'"  # the echo is there
        assert PASSWORD not in shown(result)
        assert "default" not in shown(result)


async def test_a_password_quoted_back_after_an_auth_word_is_masked() -> None:
    reply = f"-ERR WRONGPASS for AUTH default {PASSWORD}\r\n".encode()
    async with echo_server(reply=reply) as port:
        result = await run_tcp(port, send="PING\r\n", expect="+PONG")
    assert result.status is Status.FAIL
    assert result.summary == "reply '-ERR WRONGPASS for AUTH ***' does not contain '+PONG'"
    assert PASSWORD not in shown(result)


async def test_a_secret_send_text_is_a_secret_of_the_run() -> None:
    """An echo of the bare text is masked too (no AUTH word before it); with `secret: true`
    the runner also knows it as a secret, masked in whatever else a run shows."""
    async with echo_server(reply=f"got [{PASSWORD}]\r\n".encode()) as port:
        result = await run_tcp(port, send=f"{PASSWORD}\r\n", secret=True, expect="+OK")
    assert result.summary == "reply 'got [***]' does not contain '+OK'"
    assert parse_probes([{"name": "p", "service": "s", "kind": "tcp", "host": "h", "port": 1,
                          "send": "AUTH x\r\n", "secret": True}])[0].secrets() == [
        "AUTH x\r\n", "AUTH x"]  # fmt: skip
