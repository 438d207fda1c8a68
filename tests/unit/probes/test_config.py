"""Validation of the YAML `probes:` list: every error names the probe, the key and what
was expected."""

from __future__ import annotations

import pytest

from probes.config import (
    DiskProbeConfig,
    HttpProbeConfig,
    PostgresProbeConfig,
    ProbeConfigError,
    RedisProbeConfig,
    TlsProbeConfig,
    parse_duration,
    parse_probes,
)


def _err(items: object) -> ProbeConfigError:
    with pytest.raises(ProbeConfigError) as info:
        parse_probes(items)
    return info.value


def test_spec_example_parses_into_typed_models() -> None:
    configs = parse_probes(
        [
            {"name": "api", "service": "backend", "kind": "http",
             "url": "http://localhost:8000/health", "timeout": "5s"},
            {"name": "db", "service": "backend", "kind": "postgres",
             "dsn": "postgresql://probe:pw@db:5432/app"},
            {"name": "cache", "service": "backend", "kind": "redis",
             "url": "redis://localhost:6379/0"},
            {"name": "api-cert", "service": "edge", "kind": "tls",
             "host": "api.example.com", "port": 443, "warn_days": 14},
        ]
    )  # fmt: skip
    assert [type(c) for c in configs] == [
        HttpProbeConfig,
        PostgresProbeConfig,
        RedisProbeConfig,
        TlsProbeConfig,
    ]
    http = configs[0]
    assert isinstance(http, HttpProbeConfig)
    assert http.timeout == 5.0
    assert http.follow_redirects is True
    assert configs[3].timeout == 5.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("500ms", 0.5), (7, 7), (1.5, 1.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "5 parsecs", True, None, "-1s"])
def test_bad_durations_raise(bad: object) -> None:
    with pytest.raises(ValueError, match="duration like"):
        parse_duration(bad)


def test_bad_dsn_names_probe_key_and_expectation() -> None:
    err = _err(
        [
            {"name": "a", "service": "s", "kind": "disk", "path": "/"},
            {"name": "b", "service": "s", "kind": "disk", "path": "/"},
            {"name": "db", "service": "s", "kind": "postgres", "dsn": "mysql://x@y/z"},
        ]
    )
    assert str(err) == "probes[2] (db).dsn: expected a postgresql:// URL"
    assert err.key == "probes[2] (db).dsn"
    assert err.expected == "a postgresql:// URL"


@pytest.mark.parametrize(
    ("item", "key", "expected"),
    [
        ({"name": "x", "service": "s", "kind": "ftp"}, "probes[0] (x).kind", "one of http"),
        ({"name": "x", "service": "s", "kind": "http"}, "probes[0] (x).url", "required"),
        (
            {"name": "x", "service": "s", "kind": "http", "url": "ftp://h/"},
            "probes[0] (x).url",
            "an http:// or https:// URL",
        ),
        (
            {"name": "x", "service": "s", "kind": "http", "url": "http://h/", "timeout": "soon"},
            "probes[0] (x).timeout",
            "a duration like",
        ),
        (
            {"name": "x", "service": "s", "kind": "http", "url": "http://h/", "timeout": 0},
            "probes[0] (x).timeout",
            "greater than 0",
        ),
        (
            {"name": "x", "service": "s", "kind": "http", "url": "http://h/", "colour": "red"},
            "probes[0] (x).colour",
            "a known key for this kind (",
        ),
        (
            {"name": "x", "service": "s", "kind": "tcp", "host": "h", "port": 70000},
            "probes[0] (x).port",
            "at most 65535",
        ),
        (
            {"name": "x", "service": "s", "kind": "tcp", "host": "h", "port": "ssh"},
            "probes[0] (x).port",
            "an integer",
        ),
        (
            {"name": "x", "service": "s", "kind": "dns", "host": "h", "nameserver": "ns1"},
            "probes[0] (x).nameserver",
            "an IP address",
        ),
        (
            {"name": "x", "service": "s", "kind": "dns", "host": "h", "type": "ZZ"},
            "probes[0] (x).type",
            "one of 'A'",
        ),
        (
            {"name": "x", "service": "s", "kind": "redis", "url": "http://h"},
            "probes[0] (x).url",
            "a redis://",
        ),
        (
            {"name": "x", "service": "s", "kind": "disk", "path": "/", "warn_free_pct": 5},
            "probes[0] (x)",
            "fail_free_pct no greater than warn_free_pct",
        ),
        (
            {"name": "bad name!", "service": "s", "kind": "disk", "path": "/"},
            "probes[0] (bad name!).name",
            "letters, digits",
        ),
        ({"service": "s", "kind": "disk", "path": "/"}, "probes[0].name", "required"),
        (
            {"name": "all", "service": "s", "kind": "disk", "path": "/"},
            "probes[0] (all).name",
            "reserved word 'all'",
        ),
        ("not a mapping", "probes[0]", "a mapping"),
    ],
)
def test_errors_locate_and_explain(item: object, key: str, expected: str) -> None:
    err = _err([item])
    assert err.key == key
    assert expected in err.expected
    assert str(err).startswith(f"{key}: expected ")


def test_list_shape_and_duplicate_names() -> None:
    assert _err({"name": "x"}).key == "probes"
    dup = _err(
        [
            {"name": "d", "service": "s", "kind": "disk", "path": "/"},
            {"name": "d", "service": "t", "kind": "disk", "path": "/tmp"},
        ]
    )
    assert dup.key == "probes[1] (d).name"
    assert "probes[0] uses it" in dup.expected
    assert parse_probes(None) == []


def test_errors_never_echo_the_dsn_password() -> None:
    err = _err(
        [{"name": "db", "service": "s", "kind": "postgres",
          "dsn": "postgresql://u:S3cretPw@h:notaport/d"}]
    )  # fmt: skip
    assert "S3cretPw" not in str(err)
    assert err.key == "probes[0] (db).dsn"


def test_secrets_and_target_keys() -> None:
    pg, rd, web = parse_probes(
        [
            {"name": "db", "service": "s", "kind": "postgres",
             "dsn": "postgresql://u:p%40ss@h:5433/d"},
            {"name": "c", "service": "s", "kind": "redis", "url": "redis://:rpw@h:6380/1"},
            {"name": "w", "service": "s", "kind": "http", "url": "https://h/x?token=T0K&a=1",
             "headers": {"Authorization": "Bearer abc"}},
        ]
    )  # fmt: skip
    assert pg.secrets() == ["p@ss", "p%40ss"]
    assert pg.target_key() == "postgres:h:5433/d"
    assert rd.secrets() == ["rpw"]
    assert web.secrets() == ["T0K", "Bearer abc"]
    assert web.target_key() is None


def test_disk_and_redis_cross_field_rules() -> None:
    cfg = parse_probes([{"name": "d", "service": "s", "kind": "disk", "path": "/"}])[0]
    assert isinstance(cfg, DiskProbeConfig)
    assert (cfg.warn_free_pct, cfg.fail_free_pct) == (20, 10)
    err = _err([{"name": "r", "service": "s", "kind": "redis", "url": "redis://h",
                 "timeout": "1s", "sample_interval": "2s"}])  # fmt: skip
    assert "sample_interval shorter than timeout" in err.expected
