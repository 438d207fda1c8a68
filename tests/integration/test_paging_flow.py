"""Paging through the outbox against a local PagerDuty that validates the Events API v2:
a pager outage is announced loudly in the thread, never blocks the chat, and the page
goes out once the pager recovers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from bot.config import BotConfig
from bot.core.messages import NoticeKind
from bot.paging.config import build_pagers, parse_pagers
from tests.fakes.paging_services import FakePagerDuty, Scripted
from tests.stack import make_stack


async def test_pager_outage_is_loud_and_the_page_is_retried(tmp_path: Path) -> None:
    pd = await FakePagerDuty({"RK-1"}).start()
    pd.script(Scripted(500, body={"status": "error"}), Scripted(503, body={"status": "error"}))
    config = BotConfig.model_validate(
        {
            "contacts": {"oncall": ["U_ONCALL"], "engineering_manager": ["U_EM"]},
            "severities": {"SEV1": {"pagers": ["pagerduty"]}},
            "pagers": {"pagerduty": {"kind": "pagerduty", "routing_key": "RK-1", "url": pd.url,
                                     "retries": 0}},
        }
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        pagers = build_pagers(parse_pagers(config.pagers), client)
        stack = await make_stack(tmp_path, config, pagers=pagers)
        try:
            await stack.cmd("declare Payments down sev1")
            thread = stack.notifier.texts(NoticeKind.THREAD)
            alarm = [t for t in thread if "PAGING FAILED — pagerduty: " in t]
            assert len(alarm) == 1 and "<@U_ONCALL> <@U_EM>" in alarm[0]
            assert any("5-MINUTE TRIAGE" in t for t in thread)  # chat was not held up
            assert pd.alerts == {}

            await stack.advance(timedelta(minutes=5))  # past the backoff: 503, then success
            await stack.advance(timedelta(minutes=5))
            assert pd.alerts[("RK-1", "INC-1:pagerduty")]["status"] == "triggered"
            assert pd.problems == []
            assert stack.notifier.count("PAGING FAILED") == 1  # said once, not per retry

            await stack.cmd("resolve fixed")
            assert pd.alerts[("RK-1", "INC-1:pagerduty")]["status"] == "resolved"
        finally:
            await stack.aclose()
            await pd.aclose()
