-- Notices a pager refused for good (a 4xx that retrying cannot fix) stay in the outbox as
-- a record, marked with the time they were given up: such a row is never claimed again
-- and no longer holds up its lane. Pending notices are the rows with failed_at IS NULL.
ALTER TABLE notices ADD COLUMN failed_at TEXT;
DROP INDEX notices_ready;
CREATE INDEX notices_ready ON notices (ready_at) WHERE failed_at IS NULL;
