"""One exception tree.

`UserError` is shown to the person who typed the command, as is; `InfraError` is logged
with context and answered with a generic message. Each adapter has exactly one error
boundary that applies this rule.
"""

from __future__ import annotations


class IncidentBotError(Exception):
    """Base of every error incidentbot raises on purpose."""


class UserError(IncidentBotError):
    """Bad input or a refused action; the message says what was expected."""


class InfraError(IncidentBotError):
    """A dependency failed (store, platform, pager); never shown verbatim in chat."""


class ConflictError(InfraError):
    """An optimistic-concurrency check failed: the incident changed underneath us."""


class DeliveryError(InfraError):
    """A platform or pager call failed; the notice stays in the outbox and is retried.

    `retry_after` (seconds) is the platform's own hint (HTTP 429 Retry-After), if any.
    `permanent` says retrying the same request cannot succeed (the service refused it):
    the dispatcher then gives a page up at once and says so, instead of retrying forever.
    The message must be safe to show: it never quotes a credential (userinfo, a header
    value, a token) the request carried.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class DuplicateRequest(IncidentBotError):
    """The platform request was already acted on (a redelivery); nothing was written."""


class ConfigError(IncidentBotError):
    """The configuration is invalid: names the file, the key and what was expected."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        super().__init__(f"{file}: {key}: {expected}")
        self.file = file
        self.key = key
        self.expected = expected


class DeliveryRejected(DeliveryError):
    """The receiving service refused the request itself (HTTP 4xx other than 408/425/429:
    bad credentials, invalid payload, unknown repository). Retrying the same request will
    not help (`permanent` is always true), so the dispatcher stops retrying a page and
    tells people to page by hand."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class DeliveryDeferred(DeliveryError):
    """Nothing was sent: the target is busy (a platform's pace, e.g. Slack's one message a
    second per channel) and should be free in `retry_after` seconds. Not a failure: the
    outbox keeps the notice in its place and tries again then."""


class StartupError(InfraError):
    """Start-up cannot go on: a dependency refused us or did not answer. `setting` names the
    environment variable (or configuration key) an operator should check; the message is
    one line: `SETTING: expected …; what happened`."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem
