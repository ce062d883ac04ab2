-- Schedules (`every`, `cron` on a job template).
-- Who submitted a job: 'api' (a client) or 'schedule' (its template's schedule).
ALTER TABLE jobs ADD COLUMN source TEXT NOT NULL DEFAULT 'api';
-- The last slot of each template's schedule that fired or was skipped, in
-- Unix milliseconds: written in the same transaction as the slot's job and
-- event, so a restarted daemon knows what it missed and never fires a slot twice.
CREATE TABLE schedules (
    template   TEXT PRIMARY KEY,
    last_slot  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
