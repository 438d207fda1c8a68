"""Discord (discord.py) for incidentbot. One module per concern, mirrored by
bot/adapters/slack/:

* `adapter` — `DiscordAdapter`: lifecycle (login, gateway, command sync), the `Notifier`;
* `inbound` — interactions, mentions and 📌 reactions: the core, then the answer;
* `outbound` — `deliver`: notices posted as embeds, threads opened, never twice;
* `render` — `Message` -> embeds and components, modals, button ids;
* `client` — the discord.py `Client` subclass and the endpoint override for tests;
* `commands` — the native `/incident` command group.

What every platform shares (dedupe, tracked tasks, the error boundary) is in
bot/adapters/inbound.py.
"""
