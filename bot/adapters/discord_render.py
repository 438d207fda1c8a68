"""Core messages -> Discord message parts (content, embed, buttons, modals), and back.

Pure translation, no I/O. Contract:
* `content` carries the mentions (`<@id>`, or `<@&id>` for an id written `&id`) so people
  are notified — Discord never notifies for mentions inside embeds — followed, on the same
  first line, by the template's title (which names the incident);
* the embed (only when there is more than a title) has the title, one inline-free field
  per template field and the body, coloured by severity; every Discord length limit is
  respected by truncating with `…`;
* buttons become a persistent view whose custom ids (`ib:<action>:<value>`) are decoded
  by `decode_button`, so presses work after a restart without registering the view.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Rendered:
    """What `Messageable.send` / interaction responses take."""

    content: str
    embed: discord.Embed | None
    view: discord.ui.View | None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `send`/`send_message`/`followup.send` (no `None`s)."""
        out: dict[str, Any] = {"content": self.content or None}
        if self.embed is not None:
            out["embed"] = self.embed
        if self.view is not None:
            out["view"] = self.view
        return out


def render(message: Message) -> Rendered:
    """A core Message as Discord content + embed + buttons (see the module contract)."""
    head = " ".join(mention(m) for m in message.mentions)
    has_embed = bool(message.fields or message.body)
    title = message.title
    content = " ".join(p for p in (head, title) if p)  # one first line: who, and which incident
    if not has_embed:
        return Rendered(clip(content, CONTENT_MAX), None, buttons(message))
    embed = discord.Embed(
        title=clip(title, TITLE_MAX) if title else None,
        description=clip(message.body, DESCRIPTION_MAX) if message.body else None,
        colour=SEVERITY_COLOUR.get(message.severity, NEUTRAL_COLOUR)
        if message.severity
        else NEUTRAL_COLOUR,
    )
    budget = EMBED_TOTAL_MAX - len(embed.title or "") - len(embed.description or "")
    for f in message.fields[:FIELDS_MAX]:
        name = clip(f.label or "—", FIELD_NAME_MAX)
        value = clip(f.value or "—", FIELD_VALUE_MAX)
        budget -= len(name) + len(value)
        if budget < 0:
            break
        embed.add_field(name=name, value=value, inline=len(value) <= 40)
    return Rendered(clip(content, CONTENT_MAX), embed, buttons(message))


def plain(message: Message) -> str:
    """The whole message as content only (where embeds are not wanted)."""
    return clip(message.text(), CONTENT_MAX)


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
DECLARE_INPUTS: tuple[tuple[str, str, bool], ...] = (
    ("title", "Title", True),
    ("severity", "Severity (SEV1-SEV4, default SEV3)", False),
    ("description", "Impact: who is affected and how", False),
)


def modal(spec: Modal) -> discord.ui.Modal:
    """The Discord form for a core Modal. Its custom id (`ibm:<kind>:<incident>`) is what
    `decode_modal` reads back when the form is submitted."""
    if spec.kind is ModalKind.UPDATE:
        title = f"Update for INC-{spec.incident}"
        if spec.prefill.get("title"):
            title = f"INC-{spec.incident}: {spec.prefill['title']}"
        inputs = UPDATE_INPUTS
    else:
        title, inputs = "Declare an incident", DECLARE_INPUTS
    form = discord.ui.Modal(
        title=clip(title, 45), custom_id=f"{MODAL_PREFIX}{spec.kind.value}:{spec.incident or 0}"
    )
    for key, label, required in inputs:
        long = key in ("findings", "actions", "description")
        form.add_item(
            discord.ui.TextInput(
                label=label,
                custom_id=key,
                required=required,
                style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                default=spec.prefill.get(key) if key != "title" else None,
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
