-- Effectively-once delivery (SPEC §7): how often each notice was claimed and when first.
-- A notice claimed before may already be on the platform; the notifier checks first.
ALTER TABLE notices ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notices ADD COLUMN first_claimed_at TEXT;
