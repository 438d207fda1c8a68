"""One page never blocks another (SPEC §7): a SEV1 pages two pagers, the first of which
refuses (HTTP 400) or cannot be reached; the second is still paged at once, and the thread
names the pager that failed. Real HTTP servers on loopback, a real SQLite store, and a
manual clock for the dispatcher: nothing here waits for a backoff."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.config import BotConfig
from bot.core.messages import NoticeKind
from bot.paging.config import build_pagers, parse_pagers
from tests.fakes.paging_services import FakePagerDuty, FakeWebhookReceiver, Scripted
from tests.stack import Stack, make_stack

HOOK_SECRET = "hook-signing-secret"


def _config(
    pd_url: str, hook_url: str, *, routing_key: str = "RK-1", timeout: float = 10
) -> BotConfig:
    return BotConfig.model_validate(
        {
            "contacts": {"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"]},
            "severities": {"SEV1": {"pagers": ["pd", "hook"]}},
            "pagers": {
                "pd": {
                    "kind": "pagerduty",
                    "routing_key": routing_key,
                    "url": pd_url,
                    "timeout": timeout,
                    "retries": 0,
                },
                "hook": {"kind": "webhook", "url": hook_url, "secret": HOOK_SECRET},
            },
        }
    )


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connects are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _alarms(stack: Stack) -> list[str]:
    return [t for t in stack.notifier.texts(NoticeKind.THREAD) if "PAGING FAILED" in t]


def _contacts(event: dict[str, Any]) -> str:
    details: dict[str, str] = event.get("payload", {}).get("custom_details", {})
    return details.get("contacts", "")


async def _no_sleep(_: float) -> None:
    """The pagers' in-line retry waits, skipped: the test measures lanes, not backoff."""


async def test_a_pager_refusing_the_page_does_not_hold_up_the_other_pager(
    tmp_path: Path,
) -> None:
    pd = await FakePagerDuty({"RK-1"}).start()  # answers 400 for any other routing key
    hook = await FakeWebhookReceiver(HOOK_SECRET).start()
    config = _config(pd.url, f"{hook.url}/hooks/t0ken", routing_key="RK-WRONG")
    async with httpx.AsyncClient() as client:
        pagers = build_pagers(parse_pagers(config.pagers), client, sleep=_no_sleep)
        stack = await make_stack(tmp_path, config, pagers=pagers)
        try:
            started = time.monotonic()
            await stack.cmd("declare Payments down sev1")
            elapsed = time.monotonic() - started

            # The webhook was paged in the same pass, within seconds of the declare.
            assert [e["action"] for e in hook.events] == ["trigger"]
            assert elapsed < 5, elapsed
            # PagerDuty was asked once: a 400 is not retried, in-line or later.
            assert len(pd.requests) == 1
            [alarm] = _alarms(stack)
            assert "PAGING FAILED — pd: " in alarm and "HTTP 400" in alarm
            assert "page oncall, engineering_manager manually." in alarm
            assert "will not retry" in alarm
            assert "<@U_ONCALL>" in alarm
            assert "hook" not in alarm.split("—")[1]  # only the failing pager is named
            # Given up in the store, not left pending forever.
            [dead] = await stack.store.dead_notices(1)
            assert (dead.kind, dead.channel, dead.data["action"]) == (
                NoticeKind.PAGE,
                "pd",
                "trigger",
            )
            await stack.advance(timedelta(hours=2))  # also escalates: a new page, same fate
            first = [r for r in pd.requests if _contacts(r.json()) == "oncall,engineering_manager"]
            assert len(first) == 1
            # Each escalation (it keeps re-notifying the top of the chain) meets the same
            # refusal: given up at once, none left pending.
            dead = [n.data["contacts"] for n in await stack.store.dead_notices(1)]
            assert dead[0] == "oncall,engineering_manager"
            assert len(dead) >= 2 and set(dead[1:]) == {"engineering_manager"}
            assert await stack.store.next_notice_at() is None

            # Its lane is free: the resolve still goes to both (and pd refuses it again).
            await stack.cmd("resolve fixed")
            actions = [e["action"] for e in hook.events]
            assert actions[-1] == "resolve" and set(actions[:-1]) == {"trigger"}
            assert len(actions) == len(dead) + 1  # the hook got every page pd refused
            asked = [r.json()["event_action"] for r in pd.requests]
            assert asked == ["trigger"] * len(dead) + ["resolve"]  # each refused page asked once
            assert len(_alarms(stack)) == len(dead) + 1  # each refused page said at once
        finally:
            await stack.aclose()
            await pd.aclose()
            await hook.aclose()


async def test_an_unreachable_pager_does_not_hold_up_the_other_pager(tmp_path: Path) -> None:
    hook = await FakeWebhookReceiver(HOOK_SECRET).start()
    pd_url = f"http://127.0.0.1:{_closed_port()}"
    config = _config(pd_url, f"{hook.url}/hooks/t0ken")
    async with httpx.AsyncClient() as client:
        pagers = build_pagers(parse_pagers(config.pagers), client, sleep=_no_sleep)
        stack = await make_stack(tmp_path, config, pagers=pagers)
        try:
            started = time.monotonic()
            await stack.cmd("declare Payments down sev1")
            elapsed = time.monotonic() - started

            assert [e["action"] for e in hook.events] == ["trigger"]
            assert elapsed < 5, elapsed
            [alarm] = _alarms(stack)
            assert "PAGING FAILED — pd: " in alarm and "cannot connect" in alarm
            assert "keeps retrying" in alarm
            # A transient failure stays pending and is retried with backoff, said once.
            assert await stack.store.dead_notices(1) == []
            retry_at = await stack.store.next_notice_at()
            assert retry_at is not None and retry_at > stack.clock.now()
            failures_before = stack.dispatcher.failures[("pd", "page")]
            await stack.advance(timedelta(minutes=10))
            assert stack.dispatcher.failures[("pd", "page")] > failures_before
            assert len(_alarms(stack)) == 1
            assert [e["action"] for e in hook.events] == ["trigger"]  # not paged twice
        finally:
            await stack.aclose()
            await hook.aclose()


async def test_a_pager_that_never_answers_holds_up_nothing_else(tmp_path: Path) -> None:
    """A black hole (accepts, never answers) is held until its attempt deadline; the
    dispatcher goes on meanwhile: the other pager and the thread are not kept waiting."""
    pd = await FakePagerDuty({"RK-1"}).start()
    pd.script(Scripted(503, hang=True))
    hook = await FakeWebhookReceiver(HOOK_SECRET).start()
    config = _config(pd.url, f"{hook.url}/hooks/t0ken", timeout=3)
    async with httpx.AsyncClient() as client:
        pagers = build_pagers(parse_pagers(config.pagers), client, sleep=_no_sleep)
        stack = await make_stack(tmp_path, config, pagers=pagers)
        stack.dispatcher.step_wait = timedelta(milliseconds=200)
        try:
            started = time.monotonic()
            await stack.cmd("declare Payments down sev1")
            elapsed = time.monotonic() - started

            assert elapsed < 2, elapsed  # not the 3 s pd is held for
            assert [e["action"] for e in hook.events] == ["trigger"]
            assert any("5-MINUTE TRIAGE" in t for t in stack.notifier.texts(NoticeKind.THREAD))
            assert stack.dispatcher.in_flight == 1 and len(pd.requests) == 1

            await stack.dispatcher.wait_in_flight(10)  # pd's attempt deadline passes
            await stack.settle()
            [alarm] = _alarms(stack)
            assert "PAGING FAILED — pd: " in alarm and "no answer within 3 s" in alarm
        finally:
            await stack.aclose()
            await pd.aclose()
            await hook.aclose()
