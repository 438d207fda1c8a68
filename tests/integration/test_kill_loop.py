"""Effectively once under a kill loop (issue 10 item 7, SPEC §7): bot processes SIGKILLed
again and again right after Slack or Discord stored one of their messages (whose answer
comes 200 ms late, and now and then never) post nothing twice and lose nothing.

The harness is tests/killloop.py (also run by bench/once_bench.py); see its docstring for
how messages are counted against the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.killloop import Outcome, run_kill_loop

KILLS = 6  # bench/once_bench.py runs 12


def check(outcome: Outcome) -> None:
    summary = outcome.line()
    assert outcome.kills == KILLS, summary
    assert outcome.recorded_reminders > 0, summary
    assert outcome.duplicated == 0, (summary, outcome.details)
    assert outcome.lost == 0, (summary, outcome.details)
    # The loop did hit the cases it is about: answers lost, and retries that found their
    # message already posted (Slack lookup) or got the original back (Discord nonce).
    assert outcome.unanswered > 0, summary
    assert outcome.found_by_lookup > 0, summary
    assert outcome.nonce_replays > 0, summary


@pytest.mark.slow
async def test_sqlite_one_process_killed_and_restarted_posts_everything_once(
    tmp_path: Path,
) -> None:
    outcome = await run_kill_loop(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}", kills=KILLS)
    check(outcome)


@pytest.mark.slow
async def test_postgres_replicas_killed_one_at_a_time_post_everything_once(
    tmp_path: Path, pg_schema_url: str
) -> None:
    outcome = await run_kill_loop(tmp_path, pg_schema_url, replicas=3, kills=KILLS)
    check(outcome)
