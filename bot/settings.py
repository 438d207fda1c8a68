"""Process settings from the environment (tokens, URLs, where the configuration is).

`load_settings()` raises `ConfigError("(environment)", VARIABLE, expected)` for the first bad
variable; a secret's value is never echoed. The YAML file's model is in `bot.config`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from bot.storage.dsn import DEFAULT_DB_NAME, EXPECTED_FORMS, POSTGRES_SCHEMES, default_data_dir


class Settings(BaseSettings):
    """Process settings from the environment (SPEC §6). Secrets are SecretStr: they never
    appear in a repr, a log line or an error."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    slack_bot_token: SecretStr | None = None
    """Slack bot token (xoxb-…); setting it runs the Slack platform."""
    slack_app_token: SecretStr | None = None
    """Slack app-level token (xapp-…) for Socket Mode."""
    slack_signing_secret: SecretStr | None = None
    """Slack signing secret for HTTP mode (events at POST /slack/events on PORT)."""
    slack_api_url: str | None = None
    """Overrides the Slack Web API base URL (tests, proxies)."""
    discord_token: SecretStr | None = None
    """Discord bot token; setting it runs the Discord platform."""
    discord_api_url: str | None = None
    """Overrides the Discord REST base URL (and the gateway, at its host and port)."""
    database_url: SecretStr | None = None
    """postgresql://… for PostgreSQL; default: an SQLite file under INCIDENTBOT_DATA_DIR."""
    incidentbot_config: str | None = None
    """Path of the YAML configuration (--config wins; default: the shipped file)."""
    incidentbot_data_dir: str | None = None
    """Directory of the default SQLite store (default: data/ of the checkout the bot runs
    from, or ~/.local/share/incidentbot for an installed package)."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """Port of /healthz and /metrics (and Slack HTTP mode, which defaults it to 3000)."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """json in production; console is readable; auto: console on a terminal, else json."""
    log_level: str = "info"
    """debug, info, warning or error."""
    replica_id: str | None = None
    """This replica's name in claims (default: host:pid)."""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not _SLACK_BOT_TOKEN.match(v.get_secret_value()):
            raise ValueError("a Slack bot token starting with xoxb- (unset it to run without)")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("a Slack app-level token starting with xapp- (Socket Mode)")
        return v

    @field_validator("slack_signing_secret", "discord_token")
    @classmethod
    def _not_empty(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("a non-empty value (unset it instead)")
        return v

    @field_validator("slack_api_url", "discord_api_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parts = urlsplit(v)
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                raise ValueError("an http:// or https:// URL with a valid port") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("an http:// or https:// URL")
        return v

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            try:
                scheme = urlsplit(v.get_secret_value()).scheme.lower()
            except ValueError:
                scheme = ""
            if scheme != "sqlite" and scheme not in POSTGRES_SCHEMES:
                # The value is never echoed: it may hold a password.
                raise ValueError(EXPECTED_FORMS)
        return v

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        if v.lower() not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)}")
        return v.lower()

    def platforms(self) -> list[str]:
        """Platforms to run, from which tokens are set (console when none is)."""
        chosen = []
        if self.slack_bot_token is not None:
            chosen.append("slack")
        if self.discord_token is not None:
            chosen.append("discord")
        return chosen or ["console"]

    def data_dir(self) -> Path:
        """INCIDENTBOT_DATA_DIR (relative to the current directory), else the default
        location (`bot.storage.dsn.default_data_dir`); always absolute."""
        if self.incidentbot_data_dir:
            return Path(self.incidentbot_data_dir).expanduser().resolve()
        return default_data_dir()

    def store_url(self) -> str:
        """DATABASE_URL, else an SQLite file under the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir() / DEFAULT_DB_NAME}"


_SLACK_BOT_TOKEN = re.compile(r"^(xoxe\.)?xoxb-\S+$")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
ENVIRONMENT = "(environment)"  # the "file" a bad environment variable is reported in
_SECRET_FIELDS = frozenset(
    name for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)
)


def load_settings() -> Settings:
    """The process settings from the environment, checked as `run` needs them: raises
    `ConfigError("(environment)", VARIABLE, expected)` for the first bad variable or
    combination. A secret's value is never echoed."""
    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        expected = _env_expected(err, name)
        raise ConfigError(ENVIRONMENT, name.upper() or "(environment)", expected) from None
    slack_mode = settings.slack_app_token or settings.slack_signing_secret
    if settings.slack_bot_token is None and slack_mode is not None:
        given = "SLACK_APP_TOKEN" if settings.slack_app_token else "SLACK_SIGNING_SECRET"
        raise ConfigError(
            ENVIRONMENT,
            "SLACK_BOT_TOKEN",
            f"expected a Slack bot token (xoxb-…) since {given} is set",
        )
    if settings.slack_bot_token is not None and slack_mode is None:
        raise ConfigError(
            ENVIRONMENT,
            "SLACK_APP_TOKEN / SLACK_SIGNING_SECRET",
            "expected an app token (Socket Mode) or a signing secret (HTTP mode) with"
            " SLACK_BOT_TOKEN",
        )
    return settings


def _env_expected(err: Mapping[str, Any], name: str) -> str:
    kind, ctx = err.get("type"), err.get("ctx") or {}
    if kind == "value_error":
        expected = str(err.get("msg", "")).removeprefix("Value error, ")
    elif name == "port":
        expected = "a port number from 1 to 65535"
    elif kind == "literal_error":
        expected = f"one of {ctx.get('expected', '')}".replace("'", "")
    elif kind in ("int_parsing", "int_type"):
        expected = "a whole number"
    else:
        expected = str(err.get("msg", "a valid value"))
    expected = "expected " + expected
    if name in _SECRET_FIELDS:
        return expected
    return f"{expected}, got {str(err.get('input', ''))[:40]!r}"
