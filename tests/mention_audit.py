"""Who a posted message would notify, read off what the platform received (SPEC §7 tests).

Slack: every manual-parsing mention in the fallback `text` and in every `mrkdwn` text
object of the blocks (`<@U1>` -> `@U1`, `<!here>` -> `!here`, `<!subteam^S1|@sre>` ->
`!subteam^S1`), plus a bare `@here`/`@channel`/`@everyone`, which Slack's automatic parsing
(`verbatim: false`, the default) may turn into a mass mention. `plain_text` objects are
never parsed for mentions, so they are not counted.

Discord: what FakeDiscord computed the way Discord does (content only, as
`allowed_mentions` permits), plus any raw `@everyone`/`@here`/`<@&id>` left anywhere in the
content or embeds (a renderer must defuse them even where they would not notify).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_SLACK_TOKEN = re.compile(r"<([@!][^<>|\s]+)(?:\|[^<>]*)?>")
_BARE_MASS = re.compile(r"(?<![\w@])@(here|channel|everyone)\b")
MASS = frozenset({"!here", "!channel", "!everyone", "!group"})


def slack_tokens(text: str) -> set[str]:
    """Live mention tokens of one piece of Slack mrkdwn."""
    out = {m.group(1) for m in _SLACK_TOKEN.finditer(text)}
    out |= {f"!{m.group(1)}" for m in _BARE_MASS.finditer(text)}
    return out


def _mrkdwn(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for v in node.values():
            yield from _mrkdwn(v)
    elif isinstance(node, list):
        for v in node:
            yield from _mrkdwn(v)


def slack_live(text: str, blocks: list[dict[str, Any]]) -> set[str]:
    """Every mention a Slack message with this `text` and `blocks` makes."""
    out = slack_tokens(text)
    for t in _mrkdwn(blocks):
        out |= slack_tokens(t)
    return out


def is_mass_or_group(token: str) -> bool:
    """`!here`, `!channel`, `!everyone`, a user group `!subteam^…`, any other `!` command."""
    return token.startswith("!")


_RAW_DISCORD = re.compile(r"@(?:everyone|here)|<@&\d+>")


def discord_texts(msg: dict[str, Any]) -> Iterator[str]:
    """Content, and every embed title, description, field name and value."""
    if msg.get("content"):
        yield str(msg["content"])
    for e in msg.get("embeds") or []:
        for key in ("title", "description"):
            if e.get(key):
                yield str(e[key])
        for f in e.get("fields") or []:
            yield str(f.get("name", ""))
            yield str(f.get("value", ""))


def discord_raw_mass(msg: dict[str, Any]) -> list[str]:
    """Undefused `@everyone`, `@here` or `<@&id>` anywhere in the message."""
    return [m.group(0) for t in discord_texts(msg) for m in _RAW_DISCORD.finditer(t)]


def discord_pinged(msg: dict[str, Any]) -> set[str]:
    """Who the stored message notified: user ids, `&role` ids, `@everyone`."""
    out = {str(u["id"]) for u in msg.get("mentions") or []}
    out |= {f"&{r}" for r in msg.get("mention_roles") or []}
    if msg.get("mention_everyone"):
        out.add("@everyone")
    return out
