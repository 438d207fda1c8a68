"""Core messages -> Discord message parts (content, embed, buttons, modals), and back.

Pure translation, no I/O. Contract:
* `content` carries the mentions (`<@id>`, or `<@&id>` for an id written `&id`) so people
  are notified — Discord never notifies for mentions inside embeds — followed, on the same
  first line, by the template's title (which names the incident);
* the embed (only when there is more than a title) has the title, one inline-free field
  per template field and the body, coloured by severity; every Discord length limit is
  respected by truncating with `…`;
* nobody is pinged by text (SPEC §7): `allowed_mentions` lists exactly the users and roles
  of `message.notifies()` (never `@everyone`/`@here`), and in every text (content and
  embeds) `@everyone`, `@here`, a role `<@&…>` and a user `<@…>` the message does not notify
  get a zero-width space that keeps them from being mentions even to a client;
* buttons become a persistent view whose custom ids (`ib:<action>:<value>`) are decoded
  by `decode_button`, so presses work after a restart without registering the view.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import discord

from bot.core.messages import Message, Modal, ModalKind
from bot.core.model import Severity

SEVERITY_COLOUR = {
    Severity.SEV1: discord.Colour(0xD92D20),  # red
    Severity.SEV2: discord.Colour(0xF79009),  # orange
    Severity.SEV3: discord.Colour(0xEAAA08),  # yellow
    Severity.SEV4: discord.Colour(0x2E90FA),  # blue
}
NEUTRAL_COLOUR = discord.Colour(0x667085)

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000
CUSTOM_ID_MAX = 100
BUTTON_PREFIX = "ib:"
MODAL_PREFIX = "ibm:"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in `…` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(target: str) -> str:
    """`123` -> `<@123>` (user); `&456` -> `<@&456>` (role); a written mention is kept."""
    if target.startswith("<@"):
        return target
    if target.startswith("&"):
        return f"<@&{target[1:]}>"
    return f"<@{target}>"


ZWSP = "\u200b"
_MASS = re.compile(r"@(everyone|here)")  # even inside a word: no guessing at the parser
_TAG = re.compile(r"<@(!?)(&?)(\d+)>")
MAX_ALLOWED = 100  # Discord's limit on allowed_mentions.users and .roles


def defuse(text: str, notifies: Collection[str] = ()) -> str:
    """`text` with every mention the message does not make turned into plain text:
    `@everyone`/`@here`, roles `<@&id>`, users `<@id>` not in `notifies`."""

    def tag(m: re.Match[str]) -> str:
        bang, role, number = m.groups()
        if not role and number in notifies:
            return m.group(0)
        return f"<@{ZWSP}{bang}{role}{number}>"

    return _TAG.sub(tag, _MASS.sub(lambda m: f"@{ZWSP}{m.group(1)}", text))


def allowed_mentions(message: Message) -> discord.AllowedMentions:
    """Exactly who `message` may notify: its users and roles, never everyone/here."""
    users = [discord.Object(int(t)) for t in message.notifies() if t.isdigit()]
    roles = [
        discord.Object(int(t[1:])) for t in message.mentions if t[:1] == "&" and t[1:].isdigit()
    ]
    return discord.AllowedMentions(
        everyone=False, users=users[:MAX_ALLOWED], roles=roles[:MAX_ALLOWED], replied_user=True
    )


@dataclass(frozen=True, slots=True)
class Rendered:
    """What `Messageable.send` / interaction responses take."""

    content: str
    embed: discord.Embed | None
    view: discord.ui.View | None
    mentions: discord.AllowedMentions  # whom it may notify: `allowed_mentions(message)`

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `send`/`send_message`/`followup.send` (no `None`s)."""
        out: dict[str, Any] = {"content": self.content or None, "allowed_mentions": self.mentions}
        if self.embed is not None:
            out["embed"] = self.embed
        if self.view is not None:
            out["view"] = self.view
        return out


def render(message: Message) -> Rendered:
    """A core Message as Discord content + embed + buttons (see the module contract)."""
    live = frozenset(message.notifies())
    head = " ".join(mention(m) for m in message.mentions)
    has_embed = bool(message.fields or message.body)
    title = defuse(message.title, live)
    body = defuse(message.body, live)
    content = " ".join(p for p in (head, title) if p)  # one first line: who, and which incident
    allowed = allowed_mentions(message)
    if not has_embed:
        return Rendered(clip(content, CONTENT_MAX), None, buttons(message), allowed)
    embed = discord.Embed(
        title=clip(title, TITLE_MAX) if title else None,
        description=clip(body, DESCRIPTION_MAX) if body else None,
        colour=SEVERITY_COLOUR.get(message.severity, NEUTRAL_COLOUR)
        if message.severity
        else NEUTRAL_COLOUR,
    )
    budget = EMBED_TOTAL_MAX - len(embed.title or "") - len(embed.description or "")
    for f in message.fields[:FIELDS_MAX]:
        name = clip(defuse(f.label, live) or "—", FIELD_NAME_MAX)
        value = clip(defuse(f.value, live) or "—", FIELD_VALUE_MAX)
        budget -= len(name) + len(value)
        if budget < 0:
            break
        embed.add_field(name=name, value=value, inline=len(value) <= 40)
    return Rendered(clip(content, CONTENT_MAX), embed, buttons(message), allowed)


def plain(message: Message) -> str:
    """The whole message as content only (where embeds are not wanted); send it with
    `allowed_mentions(message)`."""
    return clip(defuse(message.text(), frozenset(message.notifies())), CONTENT_MAX)


def buttons(message: Message) -> discord.ui.View | None:
    """The message's buttons as a persistent view (no timeout), or None."""
    if not message.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for b in message.buttons[:25]:
        style = (
            discord.ButtonStyle.primary
            if b.action == "post_update"
            else discord.ButtonStyle.secondary
        )
        view.add_item(
            discord.ui.Button(
                label=clip(b.label, 80), style=style, custom_id=encode_button(b.action, b.value)
            )
        )
    return view


def encode_button(action: str, value: str) -> str:
    return clip(f"{BUTTON_PREFIX}{action}:{value}", CUSTOM_ID_MAX)


def decode_button(custom_id: str) -> tuple[str, str] | None:
    """`ib:snooze:INC-3 30m` -> ("snooze", "INC-3 30m"); None for ids that are not ours."""
    if not custom_id.startswith(BUTTON_PREFIX):
        return None
    action, sep, value = custom_id[len(BUTTON_PREFIX) :].partition(":")
    return (action, value) if sep and action else None


# --------------------------------------------------------------------------- modals

UPDATE_INPUTS: tuple[tuple[str, str, bool], ...] = (
    ("findings", "Current findings", True),
    ("actions", "Actions in progress", False),
)


def modal(spec: Modal) -> discord.ui.Modal:
    """The Discord form for a core Modal. Its custom id (`ibm:<kind>:<incident>`) is what
    `decode_modal` reads back when the form is submitted. Only the update form exists on
    Discord (`/incident declare` takes its title as a native option)."""
    if spec.kind is not ModalKind.UPDATE:
        raise ValueError(f"Discord has no {spec.kind.value} form")
    title = f"Update for INC-{spec.incident}"
    if spec.prefill.get("title"):
        title = f"INC-{spec.incident}: {spec.prefill['title']}"
    inputs = UPDATE_INPUTS
    form = discord.ui.Modal(
        title=clip(title, 45), custom_id=f"{MODAL_PREFIX}{spec.kind.value}:{spec.incident or 0}"
    )
    for key, label, required in inputs:
        long = key in ("findings", "actions")
        form.add_item(
            discord.ui.TextInput(
                label=label,
                custom_id=key,
                required=required,
                style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                default=spec.prefill.get(key),
                max_length=1000 if long else 200,
            )
        )
    return form


def decode_modal(custom_id: str) -> tuple[ModalKind, int | None] | None:
    """`ibm:update:3` -> (UPDATE, 3); None for ids that are not ours."""
    if not custom_id.startswith(MODAL_PREFIX):
        return None
    kind, _, number = custom_id[len(MODAL_PREFIX) :].partition(":")
    try:
        return ModalKind(kind), (int(number) or None)
    except ValueError:
        return None


def modal_values(components: list[dict[str, Any]]) -> dict[str, str]:
    """Text-input values of a submitted modal by custom id (action rows or labels)."""
    out: dict[str, str] = {}
    for comp in components:
        inner = comp.get("components") or ([comp["component"]] if "component" in comp else [])
        for c in inner:
            if "custom_id" in c and isinstance(c.get("value"), str):
                out[str(c["custom_id"])] = c["value"]
    return out
