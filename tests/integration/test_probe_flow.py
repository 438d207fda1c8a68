"""Probes from chat: on declare and on `/incident probe`, against real targets on
loopback; results land in the incident's thread and timeline, credentials never do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.core.messages import NoticeKind
from bot.probing import ConfiguredProbeRunner
from tests.integration.probes.servers import http_server
from tests.stack import Stack, make_stack

SECRET = "s3cr3t-pw"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with http_server() as base:
        probes = [
            {"name": "api", "service": "backend", "kind": "http", "url": f"{base}/ok"},
            {"name": "web", "service": "frontend", "kind": "http", "url": f"{base}/503"},
            {"name": "slow", "service": "backend", "kind": "http", "url": f"{base}/hang",
             "timeout": "1s"},
            {"name": "db", "service": "backend", "kind": "postgres",
             "dsn": f"postgresql://app:{SECRET}@127.0.0.1:1/app", "timeout": "2s"},
        ]  # fmt: skip
        config = BotConfig.model_validate({"probes": probes, "on_declare": ["backend"]})
        runner = ConfiguredProbeRunner.from_dicts(config.probes)
        s = await make_stack(tmp_path, config, probes=runner)
        yield s
        await s.aclose()


async def probe_posts(s: Stack) -> list[str]:
    assert await s.service.settle(15)
    await s.settle()
    return [t for t in s.notifier.texts(NoticeKind.THREAD) if t.startswith("PROBES:")]


async def test_declare_runs_on_declare_probes_into_the_thread(stack: Stack) -> None:
    reply = await stack.cmd("declare API errors sev2")
    assert "INC-1 declared" in reply
    [post] = await probe_posts(stack)
    assert post.startswith("PROBES: 1 ok · 0 warn · 1 fail · 1 error in ")  # db refused: fail
    assert "✅ api (backend/http) ok" in post
    assert "slow (backend/http) error: timed out after 1" in post
    assert "db (backend/postgres) fail" in post
    assert "web" not in post  # another service: not part of on_declare
    checklist = next(t for t in stack.notifier.texts() if "5-MINUTE TRIAGE" in t)
    assert "probes: running now" in checklist
    timeline = await stack.store.timeline(1)
    assert [e.text for e in timeline if e.kind == "probe"] == [
        post.split("\n")[0][len("PROBES: ") :]
    ]


async def test_probe_command_by_name_and_service(stack: Stack) -> None:
    await stack.cmd("declare API errors sev2")
    await probe_posts(stack)
    reply = await stack.cmd("probe web api")
    assert "Running probes web api for INC-1" in reply
    posts = await probe_posts(stack)
    assert len(posts) == 2
    assert posts[1].startswith("PROBES: 1 ok · 0 warn · 1 fail · 0 error")
    assert "web (frontend/http) fail" in posts[1] and "503" in posts[1]


async def test_unknown_probe_lists_what_is_configured(stack: Stack) -> None:
    await stack.cmd("declare API errors sev2")
    answer = await stack.cmd("probe payments")
    assert "Unknown probe or service: payments" in answer
    assert "api, db, slow, web" in answer and "backend, frontend" in answer


async def test_no_credential_ever_reaches_chat_or_timeline(stack: Stack) -> None:
    await stack.cmd("declare API errors sev2")
    await probe_posts(stack)
    await stack.cmd("probe all")
    await probe_posts(stack)
    everything = "\n".join(stack.notifier.texts())
    everything += "\n".join(e.text for e in await stack.store.timeline(1))
    assert "db (backend/postgres)" in everything
    assert SECRET not in everything
