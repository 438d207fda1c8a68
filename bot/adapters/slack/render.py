"""Pure rendering of the core's messages and modals to Slack Block Kit, and of modal
submissions back to plain values. No I/O, no SDK: dicts in, dicts out.

Contracts:
* `render(message)` returns `(text, blocks)`. `text` is the plain-text fallback Slack uses for
  notifications and screen readers; it carries the template's words and every mention, so
  people are notified whatever the client shows. Blocks stay inside Slack's limits (≤ 50
  blocks, header ≤ 150 chars, section text ≤ 3000, ≤ 10 fields of ≤ 2000, ≤ 25 buttons).
* Nobody is pinged by text (SPEC §7): every text is escaped (`&`, `<`, `>`, Slack's three
  control characters), so `<!here>`, `<!channel>`, `<!subteam^S…>` or a forged link typed by
  anyone show as text, in the blocks and in `text`. The only live mentions are the head line
  of `message.mentions` and an inline `<@U…>` for a user in `message.notifies()` (the
  commander field; a person named in a note). Channel links `<#C…>` stay links (they notify
  nobody). A bare `@word` (`@here`, `@sre-team`) gets a word joiner after the `@`, invisible,
  so Slack's automatic parsing (mrkdwn objects with `verbatim: false`) cannot make it a
  mention either.
* Button action ids are `incident:<action>:<n>`; `button_action(action_id)` reverses it.
* Modals carry their context (channel, thread, incident) in `private_metadata` as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.messages import Button, Message, Modal, ModalKind
from bot.core.model import Severity

Block = dict[str, Any]

ACTION_PREFIX = "incident:"
DECLARE_CALLBACK = "incident_declare"
UPDATE_CALLBACK = "incident_update"

SEVERITY_EMOJI = {
    Severity.SEV1: ":red_circle:",
    Severity.SEV2: ":large_orange_circle:",
    Severity.SEV3: ":large_yellow_circle:",
    Severity.SEV4: ":large_blue_circle:",
}

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_FIELDS_PER_SECTION = 10
MAX_BUTTONS = 25
MAX_TEXT = 39_000  # chat.postMessage truncates `text` at 40,000 characters

# Manual-parsing sequences that may stay: a channel link, or a user mention (kept only when
# the user is one the message notifies). Everything else in `<…>` is escaped.
_KEEP = re.compile(r"<(?:#C[A-Z0-9]+(?:\|[^<>&]*)?|@([^<>|\s]+)(?:\|[^<>&]*)?)>")
# `@` starting a word (not `alice@example.com`): what automatic parsing could turn into
# `@here`, `@channel`, `@everyone` or a user group's handle.
_BARE_AT = re.compile(r"(?<![\w@])@(?=\w)")
WORD_JOINER = "\u2060"


def escape(text: str, notifies: Collection[str] = ()) -> str:
    """`text` as Slack mrkdwn that pings nobody except the users in `notifies`."""
    out: list[str] = []
    pos = 0
    for m in _KEEP.finditer(text):
        if m.group(1) is not None and m.group(1) not in notifies:
            continue  # someone's typed mention: escaped below with the text around it
        out.append(_escape_plain(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def defuse(text: str) -> str:
    """A word joiner after every word-initial `@`: shown the same, never parsed as a mention."""
    return _BARE_AT.sub("@" + WORD_JOINER, text)


def _escape_plain(text: str) -> str:
    return defuse(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def mention(target: str) -> str:
    """Slack syntax for a mention of `target`: a user id, a user group (`S…`) or here/channel."""
    if target in ("here", "channel", "everyone"):
        return f"<!{target}>"
    if target.startswith("S"):
        return f"<!subteam^{target}>"
    return f"<@{target}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fallback_text(message: Message) -> str:
    """Plain text: mentions and the title on the first line, then `Message.text()`'s other
    lines, escaped and bounded."""
    live = frozenset(message.notifies())
    # Mentions share the title's line, so the first line (the notification preview) names
    # the incident as well as who is being paged.
    head = [mention(m) for m in message.mentions]
    if message.title:
        head.append(escape(message.title, live))
    lines: list[str] = [" ".join(head)] if head else []
    lines.extend(f"{escape(f.label, live)}: {escape(f.value, live)}" for f in message.fields)
    if message.body:
        lines.append(escape(message.body, live))
    return _clip("\n".join(lines), MAX_TEXT)


def render(message: Message) -> tuple[str, list[Block]]:
    """`(text, blocks)` for chat.postMessage / chat.postEphemeral / response_url."""
    live = frozenset(message.notifies())
    blocks: list[Block] = []
    emoji = SEVERITY_EMOJI.get(message.severity) if message.severity else None
    title = f"{emoji} {message.title}" if emoji else message.title
    if message.fields and title:
        header = _clip(defuse(title), MAX_HEADER)  # plain_text: shown as typed, no escaping
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
    elif title:
        text = escape(title, live)
        blocks.append(_section(f"*{text}*" if message.body else text))
    if message.mentions:
        blocks.append(_section(" ".join(mention(m) for m in message.mentions)))
    fields = [
        {
            "type": "mrkdwn",
            "text": _clip(f"*{escape(f.label, live)}*\n{escape(f.value, live)}", MAX_FIELD),
        }
        for f in message.fields
    ]
    for i in range(0, len(fields), MAX_FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[i : i + MAX_FIELDS_PER_SECTION]})
    room = MAX_BLOCKS - len(blocks) - (1 if message.buttons else 0)
    if message.body:
        chunks = _chunks(escape(message.body, live), MAX_SECTION)
        if len(chunks) > room:
            chunks = [*chunks[: room - 1], "… (truncated; see the timeline)"]
        blocks.extend(_section(c) for c in chunks)
    if message.buttons:
        blocks.append(buttons_block(message.buttons))
    return fallback_text(message), blocks


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION)}}


def _chunks(text: str, size: int) -> list[str]:
    """Splits `text` into pieces of at most `size` characters, at line ends where possible."""
    chunks: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        chunks.append(text)
    return chunks


def buttons_block(buttons: Sequence[Button]) -> Block:
    elements: list[Block] = []
    for i, b in enumerate(buttons[:MAX_BUTTONS]):
        el: Block = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{b.action}:{i}",
            "text": {"type": "plain_text", "text": _clip(b.label, 75), "emoji": True},
            "value": b.value[:2000],
        }
        if b.action == "post_update":
            el["style"] = "primary"
        elements.append(el)
    return {"type": "actions", "block_id": "incident_actions", "elements": elements}


def button_action(action_id: str) -> str:
    """`incident:snooze:0` -> `snooze`."""
    return action_id.removeprefix(ACTION_PREFIX).split(":", 1)[0]


# --------------------------------------------------------------------------- modals


@dataclass(frozen=True, slots=True)
class ModalContext:
    """Where a modal was opened from; round-trips through `private_metadata`."""

    channel: str
    thread: str | None = None
    incident: int | None = None

    def dump(self) -> str:
        return json.dumps({"c": self.channel, "t": self.thread, "i": self.incident})

    @classmethod
    def load(cls, raw: str) -> ModalContext:
        d = json.loads(raw or "{}")
        inc = d.get("i")
        return cls(str(d.get("c", "")), d.get("t"), int(inc) if inc is not None else None)


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


def _text_input(
    block_id: str, label: str, *, multiline: bool = False, initial: str = "", optional: bool = False
) -> Block:
    el: Block = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
    if initial:
        el["initial_value"] = initial[:3000]
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": el,
        "optional": optional,
    }


def declare_modal(ctx: ModalContext, severity: Severity | None = None, title: str = "") -> Block:
    """Title, severity select and impact (block `description`): submitted as callback
    `incident_declare`."""
    options = [{"text": _plain(s.value), "value": s.value} for s in Severity]
    select: Block = {
        "type": "static_select",
        "action_id": "value",
        "placeholder": _plain("Choose a severity"),
        "options": options,
    }
    if severity is not None:
        select["initial_option"] = {"text": _plain(severity.value), "value": severity.value}
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "private_metadata": ctx.dump(),
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "blocks": [
            _text_input("title", "Title", initial=title),
            {
                "type": "input",
                "block_id": "severity",
                "label": _plain("Severity"),
                "element": select,
            },
            _text_input(
                "description", "Impact: who is affected and how", multiline=True, optional=True
            ),
        ],
    }


def update_modal(ctx: ModalContext, prefill: Mapping[str, str]) -> Block:
    """Findings and actions for INC-n: submitted as callback `incident_update`."""
    inc = f"INC-{ctx.incident}" if ctx.incident is not None else "incident"
    return {
        "type": "modal",
        "callback_id": UPDATE_CALLBACK,
        "private_metadata": ctx.dump(),
        "title": _plain(_clip(f"Update {inc}", 24)),
        "submit": _plain("Post update"),
        "close": _plain("Cancel"),
        "blocks": [
            _text_input(
                "findings", "Current findings", multiline=True, initial=prefill.get("findings", "")
            ),
            _text_input(
                "actions",
                "Actions in progress",
                multiline=True,
                initial=prefill.get("actions", ""),
                optional=True,
            ),
        ],
    }


def modal_view(modal: Modal, ctx: ModalContext) -> Block:
    """The view for a core `Modal`."""
    if modal.kind is ModalKind.UPDATE:
        return update_modal(ModalContext(ctx.channel, ctx.thread, modal.incident), modal.prefill)
    sev = modal.prefill.get("severity", "")
    return declare_modal(
        ctx, Severity(sev) if sev in Severity.__members__ else None, modal.prefill.get("title", "")
    )


def submitted_values(view: Mapping[str, Any]) -> dict[str, str]:
    """`{block_id: value}` from a view_submission's `view.state.values` (selects: the value)."""
    out: dict[str, str] = {}
    for block_id, actions in (view.get("state", {}).get("values", {}) or {}).items():
        for el in actions.values():
            if el.get("type") == "static_select":
                opt = el.get("selected_option") or {}
                out[block_id] = str(opt.get("value") or "")
            else:
                out[block_id] = str(el.get("value") or "")
    return out
