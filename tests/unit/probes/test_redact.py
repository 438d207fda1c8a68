"""Redaction: known secrets, URL/DSN passwords, query tokens, SQL literals, Redis argv."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from probes.base import ProbeResult, Status
from probes.redact import Redactor, mask_sql, redact_text, redis_command


def test_url_passwords_masked_even_with_at_and_colon() -> None:
    text = "connect postgresql://probe:p@ss:w0rd@db.internal:5432/app failed"
    out = redact_text(text)
    assert "p@ss" not in out
    assert "w0rd" not in out
    assert out == "connect postgresql://probe:***@db.internal:5432/app failed"


def test_plain_urls_untouched() -> None:
    text = "GET http://127.0.0.1:8080/health?x=1 and redis://cache:6379/0"
    assert redact_text(text) == text


def test_query_tokens_and_key_values() -> None:
    out = redact_text("https://h/p?a=1&token=abc123&API_KEY=zzz host=db password='x y' user=u")
    assert "abc123" not in out
    assert "zzz" not in out
    assert "x y" not in out
    assert "a=1" in out
    assert "user=u" in out
    assert redact_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc") == (
        "Authorization: Bearer ***"
    )


def test_redactor_scrubs_known_secrets_anywhere_including_url_encoded() -> None:
    r = Redactor(["s3cr#t/pw", "", "tok"])
    assert r.text("auth failed for s3cr#t/pw") == "auth failed for ***"
    assert r.text("url redis://:s3cr%23t%2Fpw@h") == "url redis://:***@h"
    assert r.text("tok tok") == "*** ***"
    result = ProbeResult("n", "s", "http", Status.FAIL, "bad tok", ["! tok here"], 0.1)
    cleaned = r.result(result)
    assert cleaned.summary == "bad ***"
    assert cleaned.details == ["! *** here"]


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=2, max_size=30))
def test_redactor_never_leaks_a_known_secret(secret: str) -> None:
    assume(not set(secret) <= set("[]* "))
    out = Redactor([secret]).text(f"[{secret}] [{secret}]")
    assert secret not in out


def test_mask_sql_literals() -> None:
    q = "SELECT * FROM users WHERE email = 'alice@example.com' AND age > 42 AND id = $1"
    assert mask_sql(q) == "SELECT * FROM users WHERE email = ? AND age > ? AND id = $1"
    assert mask_sql("SELECT 'it''s secret', 3.14, E'esc', $$body$$, x1") == (
        "SELECT ?, ?, ?, ?, x1"
    )
    # Server-side truncation leaves an unterminated literal: masked to the end.
    assert mask_sql("UPDATE t SET token = 'abcdef") == "UPDATE t SET token = ?"
    assert mask_sql('SELECT "col 1" FROM t1') == 'SELECT "col 1" FROM t1'
    long = "SELECT " + ", ".join(f"c{i}" for i in range(100))
    assert len(mask_sql(long)) == 120
    assert mask_sql(long).endswith("…")


def test_redis_command_hides_values() -> None:
    assert redis_command([b"SET", b"user:1", b"secret-value"]) == "SET user:1 … (3 args)"
    assert redis_command([b"GET", b"k"]) == "GET k (2 args)"
    assert redis_command([b"AUTH", b"user", b"pw"]) == "AUTH (3 args)"
    assert redis_command([b"EVAL", b"return 'x'", b"0"]) == "EVAL (3 args)"
    assert redis_command([b"config", b"set", b"requirepass", b"pw"]) == "CONFIG SET (4 args)"
    assert redis_command([b"PING"]) == "PING (1 args)"
    assert redis_command([]) == "(empty)"
    assert "…" in redis_command([b"GET", b"k" * 100])
