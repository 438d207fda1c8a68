-- incidentbot schema, PostgreSQL. Applied once by PostgresStore.migrate() under an advisory lock.
-- All times are timestamptz (UTC). `ready_at` columns say when a row can next be claimed:
-- the due/next-attempt time, or the end of the lease while a replica holds it.

-- One row holding the last incident number handed out. `create` increments it in its own
-- transaction, so numbers are unique and gap-free: a rolled-back create returns its number.
CREATE TABLE incident_counter (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_number integer NOT NULL
);
INSERT INTO incident_counter (id, last_number) VALUES (true, 0);

CREATE TABLE incidents (
    number integer PRIMARY KEY,
    version integer NOT NULL,
    title text NOT NULL,
    severity text NOT NULL,
    status text NOT NULL,
    platform text NOT NULL,
    declared_at timestamptz NOT NULL,
    declared_by jsonb NOT NULL,
    description text NOT NULL,
    private boolean NOT NULL,
    tags jsonb NOT NULL,
    commander jsonb,
    roles jsonb NOT NULL,
    origin jsonb,
    thread_platform text,
    thread_channel text,
    thread_id text,
    last_update_at timestamptz,
    last_reminder_at timestamptz,
    missed_updates integer NOT NULL,
    escalation_level integer NOT NULL,
    snoozed_until timestamptz,
    resolved_at timestamptz,
    summary text NOT NULL,
    postmortem text NOT NULL,
    postmortem_at timestamptz
);
CREATE INDEX incidents_by_thread ON incidents (thread_platform, thread_id);
CREATE INDEX incidents_open ON incidents (number DESC, severity) WHERE status <> 'resolved';

CREATE TABLE timeline (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident integer NOT NULL REFERENCES incidents (number),
    at timestamptz NOT NULL,
    kind text NOT NULL,
    text text NOT NULL,
    actor jsonb
);
CREATE INDEX timeline_by_incident ON timeline (incident, at, id);

CREATE TABLE timers (
    incident integer NOT NULL REFERENCES incidents (number),
    kind text NOT NULL,
    due_at timestamptz NOT NULL,
    claim_owner text,
    claim_until timestamptz,
    ready_at timestamptz NOT NULL,
    PRIMARY KEY (incident, kind)
);
CREATE INDEX timers_ready ON timers (ready_at);
CREATE INDEX timers_claimed ON timers (claim_owner) WHERE claim_owner IS NOT NULL;

-- The outbox. Delivered notices are deleted, so every row here is pending.
CREATE TABLE notices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident integer NOT NULL REFERENCES incidents (number),
    platform text NOT NULL,
    kind text NOT NULL,
    channel text NOT NULL,
    message jsonb NOT NULL,
    data jsonb NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    claim_owner text,
    claim_until timestamptz,
    ready_at timestamptz NOT NULL,
    last_error text NOT NULL DEFAULT ''
);
CREATE INDEX notices_by_incident ON notices (incident, id);
CREATE INDEX notices_ready ON notices (ready_at);
CREATE INDEX notices_claimed ON notices (claim_owner) WHERE claim_owner IS NOT NULL;

-- Platform request ids already handled (retried webhooks); pruned after a day.
CREATE TABLE seen_keys (
    key text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
CREATE INDEX seen_keys_by_time ON seen_keys (seen_at);
