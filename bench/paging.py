"""Pager delivery cost against local fakes on loopback.

Measures, per run: sequential PagerDuty trigger latency (p50/p95 over N pages), the
throughput of concurrent pages through one shared httpx client, the signed-webhook round
trip, and how long a page to a refused port takes to give up under the default retry
policy with real sleeps (the worst a dispatcher waits before the outbox takes over).
Prints the median over RUNS runs.

    .venv/bin/python bench/paging.py
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.messages import Message, Notice, NoticeKind
from bot.core.model import Actor, Incident, Severity, Status
from bot.errors import DeliveryError
from bot.paging.pagerduty import PagerDutyPager
from bot.paging.retry import RetryPolicy
from bot.paging.webhook import WebhookPager
from tests.fakes.paging_services import FakePagerDuty, FakeWebhookReceiver

RUNS = 5
SEQUENTIAL = 300
CONCURRENT = 1000
CONCURRENCY = 50
KEY = "benchkey0123456789abcdef01234567"


def incident(n: int) -> Incident:
    return Incident(
        number=n,
        title="Backend DB unreachable",
        severity=Severity.SEV1,
        status=Status.INVESTIGATING,
        platform="console",
        declared_at=datetime.now(UTC),
        declared_by=Actor("U1", "alice"),
    )


NOTICE = Notice(
    incident=1,
    platform="console",
    kind=NoticeKind.PAGE,
    message=Message(title="INCIDENT DECLARED: Backend DB unreachable"),
    channel="pagerduty",
    data={"action": "trigger", "contacts": "oncall"},
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def one_run() -> dict[str, float]:
    pd = await FakePagerDuty({KEY}).start()
    hook = await FakeWebhookReceiver("benchsecret").start()
    out: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
            pager = PagerDutyPager("pd", client=client, routing_key=KEY, url=pd.url)
            lat = []
            for i in range(SEQUENTIAL):
                t = time.perf_counter()
                await pager.page(NOTICE, incident(i))
                lat.append(time.perf_counter() - t)
            lat.sort()
            out["pd_p50_ms"] = statistics.median(lat) * 1000
            out["pd_p95_ms"] = lat[int(len(lat) * 0.95)] * 1000

            gate = asyncio.Semaphore(CONCURRENCY)

            async def send(i: int) -> None:
                async with gate:
                    await pager.page(NOTICE, incident(i))

            t = time.perf_counter()
            await asyncio.gather(*(send(i) for i in range(CONCURRENT)))
            out["pd_concurrent_per_s"] = CONCURRENT / (time.perf_counter() - t)

            wh = WebhookPager(
                "hook", client=client, url=f"{hook.url}/hooks/x", secret="benchsecret"
            )
            lat = []
            for i in range(SEQUENTIAL):
                t = time.perf_counter()
                await wh.page(NOTICE, incident(i))
                lat.append(time.perf_counter() - t)
            out["webhook_p50_ms"] = statistics.median(lat) * 1000

            refused = PagerDutyPager(
                "pd", client=client, routing_key=KEY, url=f"http://127.0.0.1:{free_port()}"
            )
            t = time.perf_counter()
            with contextlib.suppress(DeliveryError):
                await refused.page(NOTICE, incident(1))
            out["refused_give_up_s"] = time.perf_counter() - t
            assert RetryPolicy().attempts == 4
    finally:
        await pd.aclose()
        await hook.aclose()
    return out


async def main() -> None:
    runs = [await one_run() for _ in range(RUNS)]
    print(f"paging bench: median of {RUNS} runs (python {sys.version.split()[0]})")
    for key in runs[0]:
        values = [r[key] for r in runs]
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {key:22s} {statistics.median(values):9.2f}   (runs: {each})")


if __name__ == "__main__":
    asyncio.run(main())
