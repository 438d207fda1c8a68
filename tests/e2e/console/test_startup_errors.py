"""Every bad setting stops start-up with one line, never a traceback (SPEC §7 "Start-up").

`incidentbot check-config` and `incidentbot run` run as real processes for each bad
configuration file and each bad environment variable of the table: both exit 2 with the
same single line on stderr (naming the file or variable, the key and what was expected),
so check-config refuses exactly what run refuses. Unreachable dependencies (the database,
Slack, Discord, the port) stop `run` (and `report`) with exit 1 and one line.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack

# Variables the table sets; removed from the inherited environment so the host's own
# settings (a developer's SLACK_BOT_TOKEN, CI's PORT) cannot change an outcome.
_OURS = ("SLACK_", "DISCORD_", "PORT", "LOG_", "DATABASE_URL", "INCIDENTBOT_", "REPLICA_ID")


def _env(tmp: Path, extra: Mapping[str, str | None]) -> dict[str, str]:
    """The inherited environment without ours, an SQLite store in `tmp`, then `extra`
    (a None value removes the variable)."""
    env: dict[str, str | None] = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'bot.sqlite3'}"
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


async def bot(tmp: Path, *args: str, env: Mapping[str, str | None]) -> tuple[int, str]:
    """`python -m bot ARGS` with stdin closed (a console `run` that starts reads EOF and
    stops at once); returns the exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=_env(tmp, env), cwd=str(tmp),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


def said(stderr: str) -> list[str]:
    """The lines on stderr that are not structured log records (those start with `{`), nor
    the line naming the store a command opens (`incidentbot: store: …`, `… reading …`)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("{") and not _STORE_LINE.match(line)
    ]


_STORE_LINE = re.compile(r"^incidentbot( report)?: (store: |reading )")


SEV1 = "severities:\n  SEV1: {%s}\n"
BAD = "incidentbot: invalid configuration: {file}: "
ENV = "incidentbot: invalid environment: "

# (case, YAML text (None: the shipped file), environment, the one line expected on stderr)
CASES: list[tuple[str, str | None, dict[str, str], str]] = [
    # -- durations
    ("update_every overflows", SEV1 % "update_every: 99999999999w", {},
     BAD + "severities.SEV1.update_every: expected a duration of at most 365d,"
     " got '99999999999w'"),
    ("update_every .inf", SEV1 % "update_every: .inf", {},
     BAD + "severities.SEV1.update_every: expected a duration of more than 0s and at most"
     " 365d, got inf"),
    ("update_every .nan", SEV1 % "update_every: .nan", {},
     BAD + "severities.SEV1.update_every: expected a duration of more than 0s and at most"
     " 365d, got nan"),
    ("update_every 0m", SEV1 % "update_every: 0m", {},
     BAD + "severities.SEV1.update_every: expected a duration like 30s, 15m, 2h or 1d,"
     " got '0m'"),
    ("respond_within negative", SEV1 % "respond_within: -5", {},
     BAD + "severities.SEV1.respond_within: expected a duration of more than 0s and at most"
     " 365d, got -5"),
    ("escalate_after soon", SEV1 % "escalate_after: soon", {},
     BAD + "severities.SEV1.escalate_after: expected a duration like 30s, 15m, 2h or 1d,"
     " or never; got 'soon'"),
    ("escalate_after 400d", SEV1 % "escalate_after: 400d", {},
     BAD + "severities.SEV1.escalate_after: expected a duration of at most 365d, or never;"
     " got '400d'"),
    ("postmortem due 1.0e+400", "postmortem: {due_after: 1.0e+400}\n", {},
     BAD + "postmortem.due_after: expected a duration of more than 0s and at most 365d,"
     " got inf"),
    ("scheduler lease soon", "scheduler: {lease: soon}\n", {},
     BAD + "scheduler.lease: expected a duration like 30s, 15m, 2h or 1d, got 'soon'"),
    # -- policy, channels, contacts, templates
    ("unknown severity", "severities:\n  SEV9: {update_every: 5m}\n", {},
     BAD + "severities.SEV9: expected one of SEV1, SEV2, SEV3 or SEV4"),
    ("postmortem maybe", "severities:\n  SEV2: {postmortem: maybe}\n", {},
     BAD + "severities.SEV2.postmortem: expected one of required, lightweight or none"),
    ("misspelt key", "chanels: {}\n", {}, BAD + "chanels: no such key (check its spelling)"),
    ("misspelt severity key", SEV1 % "update_evry: 5m", {},
     BAD + "severities.SEV1.update_evry: no such key (check its spelling)"),
    ("channels missing", "channels: {incidents: a}\n", {},
     BAD + "channels: expected channel ids for incidents_low, ops"),
    ("unset variable", 'channels: {incidents: "${NOPE}", incidents_low: b, ops: c}\n', {},
     BAD + "channels.incidents: environment variable NOPE is not set"),
    ("unknown pager name", SEV1 % "pagers: [pd]", {},
     BAD + "severities.SEV1.pagers: pager names defined under pagers; 'pd' is not"),
    ("unknown contact group", "contacts: {oncall: [U1]}\n", {},
     BAD + "severities.SEV1.page: contact groups defined under contacts (oncall);"
     " 'engineering_manager' is not"),
    ("unknown template placeholder", "templates: {initial: 'X {nope}'}\n", {},
     BAD + "templates.initial: unknown placeholder(s) nope; expected some of cadence,"
     " commander, duration, impact, key, next_update, severity, start_time, status, title"),
    ("duplicate alias", "severities:\n  SEV2: {aliases: [p1]}\n", {},
     BAD + "severities.SEV2.aliases: unique aliases; 'p1' is used twice"),
    ("default severity", "default_severity: SEV9\n", {},
     BAD + "default_severity: expected one of SEV1, SEV2, SEV3 or SEV4"),
    ("missed_updates negative", "escalation: {missed_updates: -1}\n", {},
     BAD + "escalation.missed_updates: expected a number at least 0"),
    ("unknown platform", "platforms: {teams: {}}\n", {},
     BAD + "platforms.teams: expected one of slack, discord or console"),
    ("probes not a list", "probes: 5\n", {}, BAD + "probes: expected a list"),
    # -- the file itself
    ("invalid YAML", "a: [1, 2\n", {},
     BAD + "line 2: expected valid YAML (expected ',' or ']', but got '<stream end>')"),
    ("top-level list", "- just\n- a list\n", {},
     BAD + "(top): expected a mapping of configuration keys"),
    ("binary file", "\udcff\udcfe\x00binary", {},
     BAD + "(file): expected a UTF-8 text file (byte 0 is not UTF-8)"),
    ("a directory", "<dir>", {}, BAD + "(file): expected a YAML file, not a directory"),
    ("missing file", "<missing>", {}, BAD + "(file): expected an existing YAML file"),
    ("path not UTF-8", "<not-utf8>", {}, BAD + "chanels: no such key (check its spelling)"),
    # -- pagers (check-config validated none of these before)
    ("pager kind sms", "pagers: {pd: {kind: sms}}\n", {},
     BAD + "pagers.pd.kind: expected one of pagerduty, opsgenie, webhook, github, got 'sms'"),
    ("pager without kind", "pagers: {pd: {routing_key: k}}\n", {},
     BAD + "pagers.pd.kind: expected a pager kind (one of pagerduty, opsgenie, webhook,"
     " github)"),
    ("pagerduty without routing_key", "pagers: {pd: {kind: pagerduty}}\n", {},
     BAD + "pagers.pd.routing_key: expected a value (required)"),
    ("pager secret unset", 'pagers: {pd: {kind: pagerduty, routing_key: "${PD_KEY}"}}\n', {},
     BAD + "pagers.pd.routing_key: environment variable PD_KEY is not set"),
    ("webhook ftp url", "pagers: {h: {kind: webhook, url: 'ftp://x', secret: s}}\n", {},
     BAD + "pagers.h.url: expected an http:// or https:// URL"),
    ("pager retries 99", "pagers: {pd: {kind: pagerduty, routing_key: k, retries: 99}}\n", {},
     BAD + "pagers.pd.retries: expected a number at most 10"),
    ("pager timeout overflow",
     "pagers: {pd: {kind: pagerduty, routing_key: k, timeout: 99999999999w}}\n", {},
     BAD + "pagers.pd.timeout: expected a duration of at most 365d, got '99999999999w'"),
    ("pager unknown key", "pagers: {pd: {kind: pagerduty, routing_key: k, colour: red}}\n",
     {}, BAD + "pagers.pd.colour: no such key for this kind of pager (check its spelling)"),
    # -- probes and on_declare
    ("http probe port 99999",
     "probes: [{name: a, service: s, kind: http, url: 'http://h:99999/'}]\n", {},
     BAD + "probes[0] (a).url: expected an http:// or https:// URL with a port from 1 to"
     " 65535"),
    ("redis probe port 70000",
     "probes: [{name: c, service: s, kind: redis, url: 'redis://h:70000/0'}]\n", {},
     BAD + "probes[0] (c).url: expected a redis:// URL with a port from 1 to 65535"),
    ("probe kind unknown", "probes: [{name: a, service: s, kind: ping}]\n", {},
     BAD + "probes[0] (a).kind: expected one of http, postgres, redis, dns, tls, tcp, disk"),
    ("probe timeout overflow",
     "probes: [{name: a, service: s, kind: tcp, host: h, port: 1, timeout: 99999999999d}]\n",
     {}, BAD + "probes[0] (a).timeout: expected a duration of at most 365d,"
     " got '99999999999d'"),
    ("tcp probe port 0", "probes: [{name: a, service: s, kind: tcp, host: h, port: 0}]\n", {},
     BAD + "probes[0] (a).port: expected a value at least 1"),
    ("on_declare unknown", "on_declare: [nosuch]\n", {},
     BAD + "on_declare[0]: expected all, a probe name or a service (probes: none"
     " configured), got 'nosuch'"),
    ("on_declare misspelt probe",
     "probes: [{name: api, service: backend, kind: tcp, host: h, port: 1}]\n"
     "on_declare: [backend, apii]\n", {},
     BAD + "on_declare[1]: expected all, a probe name or a service (probes: api), got 'apii'"),
    # -- environment variables
    ("PORT=abc", None, {"PORT": "abc"},
     ENV + "PORT: expected a port number from 1 to 65535, got 'abc'"),
    ("PORT=99999", None, {"PORT": "99999"},
     ENV + "PORT: expected a port number from 1 to 65535, got '99999'"),
    ("PORT=-1", None, {"PORT": "-1"},
     ENV + "PORT: expected a port number from 1 to 65535, got '-1'"),
    ("LOG_FORMAT=xml", None, {"LOG_FORMAT": "xml"},
     ENV + "LOG_FORMAT: expected one of auto, json or console, got 'xml'"),
    ("LOG_LEVEL=loud", None, {"LOG_LEVEL": "loud"},
     ENV + "LOG_LEVEL: expected one of debug, info, warning, error, critical, got 'loud'"),
    ("SLACK_BOT_TOKEN not a bot token", None, {"SLACK_BOT_TOKEN": "abc"},
     ENV + "SLACK_BOT_TOKEN: expected a Slack bot token starting with xoxb- (unset it to run"
     " without)"),
    ("SLACK_BOT_TOKEN empty", None, {"SLACK_BOT_TOKEN": ""},
     ENV + "SLACK_BOT_TOKEN: expected a Slack bot token starting with xoxb- (unset it to run"
     " without)"),
    ("SLACK_APP_TOKEN alone", None, {"SLACK_APP_TOKEN": "xapp-1-abc"},
     ENV + "SLACK_BOT_TOKEN: expected a Slack bot token (xoxb-…) since SLACK_APP_TOKEN is set"),
    ("SLACK_SIGNING_SECRET alone", None, {"SLACK_SIGNING_SECRET": "s3cr3t"},
     ENV + "SLACK_BOT_TOKEN: expected a Slack bot token (xoxb-…) since SLACK_SIGNING_SECRET is"
     " set"),
    ("SLACK_BOT_TOKEN without a mode", None, {"SLACK_BOT_TOKEN": "xoxb-1-abc"},
     ENV + "SLACK_APP_TOKEN / SLACK_SIGNING_SECRET: expected an app token (Socket Mode) or a"
     " signing secret (HTTP mode) with SLACK_BOT_TOKEN"),
    ("SLACK_APP_TOKEN a bot token", None,
     {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_APP_TOKEN": "xoxb-2-abc"},
     ENV + "SLACK_APP_TOKEN: expected a Slack app-level token starting with xapp- (Socket"
     " Mode)"),
    ("SLACK_SIGNING_SECRET empty", None,
     {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": ""},
     ENV + "SLACK_SIGNING_SECRET: expected a non-empty value (unset it instead)"),
    ("SLACK_API_URL ftp", None, {"SLACK_API_URL": "ftp://slack.example"},
     ENV + "SLACK_API_URL: expected an http:// or https:// URL, got 'ftp://slack.example'"),
    ("DISCORD_TOKEN empty", None, {"DISCORD_TOKEN": ""},
     ENV + "DISCORD_TOKEN: expected a non-empty value (unset it instead)"),
    ("DISCORD_API_URL bad port", None, {"DISCORD_API_URL": "http://h:99999/api/v10"},
     ENV + "DISCORD_API_URL: expected an http:// or https:// URL with a valid port,"
     " got 'http://h:99999/api/v10'"),
    ("DATABASE_URL mysql", None, {"DATABASE_URL": "mysql://bot:hunter2@db/incidents"},
     ENV + "DATABASE_URL: expected sqlite:///relative/path.db, sqlite:////absolute/path.db or"
     " postgresql://user@host/db"),
    ("INCIDENTBOT_CONFIG missing", "<env-missing>", {},
     BAD + "(file): expected an existing YAML file"),
]  # fmt: skip


def _config_args(tmp: Path, name: str, text: str | None, env: dict[str, str]) -> list[str]:
    """Writes the case's file; returns the `--config` arguments and fills in `{file}`."""
    if text is None:
        return []
    path = tmp / f"{name.replace(' ', '_').replace('/', '_')}.yaml"
    if text == "<dir>":
        path.mkdir()
    elif text == "<env-missing>":
        env["INCIDENTBOT_CONFIG"] = str(path)
        return []
    elif text == "<not-utf8>":
        path = tmp / "\udcff\udcfe.yaml"  # the bytes ff fe: not UTF-8, a valid file name
        path.write_text("chanels: {}\n")
    elif text != "<missing>":
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return ["--config", str(path)]


def test_the_table_has_at_least_40_bad_settings() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)
    assert sum(1 for c in CASES if c[2]) >= 10  # environment variables, not only keys


@pytest.mark.slow  # about 120 processes: a minute on a quiet machine
async def test_check_config_and_run_refuse_each_bad_setting_with_one_line(
    tmp_path: Path,
) -> None:
    gate = asyncio.Semaphore(4)

    async def one(name: str, text: str | None, env: dict[str, str], line: str) -> list[str]:
        case = tmp_path / f"case{CASES.index((name, text, env, line))}"
        case.mkdir()
        env = dict(env)
        args = _config_args(case, name, text, env)
        config = args[1] if args else env.get("INCIDENTBOT_CONFIG", "")
        # stderr shows an undecodable file name byte as `\udcff` (backslashreplace).
        shown = config.encode("utf-8", "backslashreplace").decode()
        expected = line.replace("{file}", shown)
        problems = []
        for command in ("check-config", "run"):
            async with gate:
                code, err = await bot(case, *args, command, env=env)
            if code != 2 or said(err) != [expected] or "Traceback" in err:
                problems.append(f"{name} / {command}: exit {code}, stderr:\n{err}")
            if "hunter2" in err:
                problems.append(f"{name} / {command}: the password was echoed")
        return problems

    results = await asyncio.gather(*(one(*case) for case in CASES))
    failures = [p for r in results for p in r]
    assert not failures, "\n".join(failures)


def _listening_port() -> socket.socket:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen()
    return s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("case", "args", "line"),
    [
        ("postgres down (run)", ["run"],
         "incidentbot: cannot start: DATABASE_URL: expected a reachable database; cannot"
         " connect to PostgreSQL at postgresql://bot:***@127.0.0.1:{closed}/incidents:"
         " ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {closed})"),
        ("postgres down (report)", ["report", "INC-1"],
         "incidentbot: cannot start: DATABASE_URL: expected a reachable database; cannot"
         " connect to PostgreSQL at postgresql://bot:***@127.0.0.1:{closed}/incidents:"
         " ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {closed})"),
    ],
)  # fmt: skip
async def test_an_unreachable_database_stops_run_and_report_with_one_line(
    tmp_path: Path, case: str, args: list[str], line: str
) -> None:
    closed = _closed_port()
    url = f"postgresql://bot:hunter2@127.0.0.1:{closed}/incidents"
    code, err = await bot(tmp_path, *args, env={"DATABASE_URL": url})
    assert (code, said(err)) == (1, [line.format(closed=closed)]), err
    assert "Traceback" not in err and "hunter2" not in err


async def test_an_unusable_data_dir_or_a_busy_port_stops_run_with_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    code, err = await bot(
        tmp_path, "run", env={"DATABASE_URL": None, "INCIDENTBOT_DATA_DIR": "a-file"}
    )
    path = tmp_path / "a-file" / "incidentbot.sqlite3"
    assert (code, said(err)) == (
        1,
        [
            "incidentbot: cannot start: INCIDENTBOT_DATA_DIR: expected a reachable database;"
            f" cannot open SQLite database {path}: [Errno 17] File exists:"
            f" '{tmp_path / 'a-file'}'"
        ],
    ), err
    assert "Traceback" not in err
    with _listening_port() as busy:
        port = busy.getsockname()[1]
        code, err = await bot(tmp_path, "run", env={"PORT": str(port)})
    assert (code, said(err)) == (
        1,
        [
            f"incidentbot: cannot start: PORT: expected a port this process can listen on;"
            f" {port}: error while attempting to bind on address ('0.0.0.0', {port}): address"
            " already in use"
        ],
    ), err
    assert "Traceback" not in err


async def test_slack_and_discord_start_up_failures_are_one_line(tmp_path: Path) -> None:
    closed = _closed_port()
    async with FakeSlack() as fake:
        slack = {"SLACK_API_URL": fake.api_url, "SLACK_APP_TOKEN": fake.app_token}
        cases = [
            ({**slack, "SLACK_BOT_TOKEN": "xoxb-revoked"},
             "SLACK_BOT_TOKEN: expected a bot token Slack accepts; auth.test answered"
             " invalid_auth"),
            ({**slack, "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_APP_TOKEN": "xapp-revoked"},
             "SLACK_APP_TOKEN: expected an app-level token with connections:write;"
             " apps.connections.open answered invalid_auth"),
            ({"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": "s",
              "SLACK_API_URL": f"http://127.0.0.1:{closed}/api/"},
             f"SLACK_API_URL: expected the Slack Web API to answer at"
             f" http://127.0.0.1:{closed}/api/; ClientConnectorError"),
            ({"DISCORD_TOKEN": "discord-token", "DISCORD_API_URL":
              f"http://127.0.0.1:{closed}/api/v10"},
             f"DISCORD_API_URL: expected Discord's API to answer at"
             f" http://127.0.0.1:{closed}/api/v10; login failed (ClientConnectorError)"),
        ]  # fmt: skip
        for env, line in cases:
            code, err = await bot(tmp_path, "run", env={**env, "LOG_LEVEL": "warning"})
            assert (code, said(err)) == (1, [f"incidentbot: cannot start: {line}"]), err
            assert "Traceback" not in err
