-- incidentbot schema, SQLite. Applied once by SqliteStore.migrate() in one write transaction.
-- Times are TEXT in one fixed-width UTC form (2024-05-01T12:00:00.000000+00:00) so that
-- comparing the strings compares the instants. `ready_at` columns say when a row can next be
-- claimed: the due/next-attempt time, or the end of the lease while an owner holds it.

-- `number` is assigned as max + 1 inside the serialised write transaction: gap-free.
CREATE TABLE incidents (
    number INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    platform TEXT NOT NULL,
    declared_at TEXT NOT NULL,
    declared_by TEXT NOT NULL,
    description TEXT NOT NULL,
    private INTEGER NOT NULL,
    tags TEXT NOT NULL,
    commander TEXT,
    roles TEXT NOT NULL,
    origin TEXT,
    thread_platform TEXT,
    thread_channel TEXT,
    thread_id TEXT,
    last_update_at TEXT,
    last_reminder_at TEXT,
    missed_updates INTEGER NOT NULL,
    escalation_level INTEGER NOT NULL,
    snoozed_until TEXT,
    resolved_at TEXT,
    summary TEXT NOT NULL,
    postmortem TEXT NOT NULL,
    postmortem_at TEXT
);
CREATE INDEX incidents_by_thread ON incidents (thread_platform, thread_id);
CREATE INDEX incidents_open ON incidents (number DESC, severity) WHERE status <> 'resolved';

CREATE TABLE timeline (
    id INTEGER PRIMARY KEY,
    incident INTEGER NOT NULL REFERENCES incidents (number),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    actor TEXT
);
CREATE INDEX timeline_by_incident ON timeline (incident, at, id);

CREATE TABLE timers (
    incident INTEGER NOT NULL REFERENCES incidents (number),
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    claim_owner TEXT,
    claim_until TEXT,
    ready_at TEXT NOT NULL,
    PRIMARY KEY (incident, kind)
);
CREATE INDEX timers_ready ON timers (ready_at);
CREATE INDEX timers_claimed ON timers (claim_owner) WHERE claim_owner IS NOT NULL;

-- The outbox. Delivered notices are deleted, so every row here is pending.
CREATE TABLE notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident INTEGER NOT NULL REFERENCES incidents (number),
    platform TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claim_owner TEXT,
    claim_until TEXT,
    ready_at TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notices_by_incident ON notices (incident, id);
CREATE INDEX notices_ready ON notices (ready_at);
CREATE INDEX notices_claimed ON notices (claim_owner) WHERE claim_owner IS NOT NULL;

-- Platform request ids already handled (retried webhooks); pruned after a day.
CREATE TABLE seen_keys (
    key TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);
CREATE INDEX seen_keys_by_time ON seen_keys (seen_at);
