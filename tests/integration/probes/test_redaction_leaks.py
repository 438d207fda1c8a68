"""Tries to leak a password through every kind's error path; the runner must mask it."""

from __future__ import annotations

from probes.config import parse_probes
from probes.runner import Runner
from tests.integration.probes.servers import http_server, silent_server

SECRET = "Zq9-Leak@Me:pw"
ENCODED = "Zq9-Leak%40Me%3Apw"


def _assert_clean(text: str) -> None:
    for needle in (SECRET, ENCODED, "Leak@Me", "Leak%40Me", "Tok-77x"):
        assert needle not in text, text


async def test_no_kind_leaks_credentials(unused_port: int, pg_url: str, redis_url: str) -> None:
    async with http_server() as base, silent_server() as silent:
        items = [
            # HTTP: refused, hung, and a server echoing the token back in its status line.
            {"name": "h1", "service": "s", "kind": "http",
             "url": f"http://u:{ENCODED}@127.0.0.1:{unused_port}/?token=Tok-77x"},
            {"name": "h2", "service": "s", "kind": "http",
             "url": f"{base}/hang?token=Tok-77x", "timeout": "300ms"},
            {"name": "h3", "service": "s", "kind": "http", "url": f"{base}/reason?token=Tok-77x",
             "headers": {"Authorization": f"Bearer {SECRET}"}},
            # PostgreSQL: refused, hung, rejected role.
            {"name": "p1", "service": "s", "kind": "postgres",
             "dsn": f"postgresql://u:{ENCODED}@127.0.0.1:{unused_port}/db"},
            {"name": "p2", "service": "s", "kind": "postgres",
             "dsn": f"postgresql://u:{ENCODED}@127.0.0.1:{silent}/db", "timeout": "300ms"},
            {"name": "p3", "service": "s", "kind": "postgres",
             "dsn": pg_url.replace("postgresql://", f"postgresql://nobody_x:{ENCODED}@", 1)
             if "@" not in pg_url else pg_url.split("://")[0] + f"://nobody_x:{ENCODED}@"
             + pg_url.split("@", 1)[1]},
            # Redis: refused, hung, rejected.
            {"name": "r1", "service": "s", "kind": "redis",
             "url": f"redis://:{ENCODED}@127.0.0.1:{unused_port}/0"},
            {"name": "r2", "service": "s", "kind": "redis",
             "url": f"redis://:{ENCODED}@127.0.0.1:{silent}/0", "socket_timeout": "200ms"},
            {"name": "r3", "service": "s", "kind": "redis",
             "url": redis_url.replace("redis://", f"redis://nobody:{ENCODED}@", 1)},
        ]  # fmt: skip
        report = await Runner(parse_probes(items)).run(["all"])
    by_name = {r.name: r for r in report.results}
    assert by_name["h3"].summary == "status 500 bad token=*** (expected 200–399)"
    for r in report.results:
        assert r.status.value in ("fail", "error"), r
        _assert_clean(r.summary + "\n" + "\n".join(r.details))
