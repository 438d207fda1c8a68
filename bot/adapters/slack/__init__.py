"""Slack (slack-bolt) for incidentbot. One module per concern, mirrored by
bot/adapters/discord/:

* `adapter` — `SlackAdapter`: lifecycle (auth, Socket Mode), HTTP mode, the `Notifier`;
* `inbound` — bolt listeners: ack first, then the core, then the answer;
* `outbound` — `deliver`: notices posted as Block Kit, paced, never twice;
* `render` — `Message` -> Block Kit, modals, button ids;
* `client` — the Web API client (retries, 429s);
* `door` — request checks before bolt sees a byte (size, signature, shape);
* `pacing` — per-channel post pacing;
* `dedup` — the history look-up that finds a notice an earlier attempt already posted.

What every platform shares (dedupe, tracked tasks, the error boundary) is in
bot/adapters/inbound.py.
"""
