-- 0001: the first schema. Append-only: never edit a migration that has shipped;
-- add 0002_*.sql instead (tests/fixtures/v1.sqlite3 must keep opening).
--
-- Enums are stored as their wire names (DESIGN.md §7a); structured values
-- (args, env, limits, cause, evidence, post-mortem, event body) as JSON text,
-- so the store never needs a migration when stockade-proto adds a field.

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    template      TEXT    NOT NULL,
    pool          TEXT    NOT NULL,
    args          TEXT    NOT NULL,   -- JSON array of strings
    env           TEXT    NOT NULL,   -- JSON object
    priority      INTEGER NOT NULL,
    state         TEXT    NOT NULL,   -- JobState wire name
    attempt       INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    submitted_at  INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    cause         TEXT,               -- JSON ExitCause of the last ended run
    reason        TEXT
);
-- Recovery reads unfinished jobs in queue order; a partial index keeps the
-- ever-growing history of finished jobs out of that hot path.
CREATE INDEX jobs_unfinished ON jobs (priority DESC, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_template ON jobs (template, id);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    unit        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,     -- UnitKind wire name
    job         INTEGER,
    replica     INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    pid         INTEGER,
    box_name    TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    limits      TEXT    NOT NULL,     -- JSON Limits
    ended_at    INTEGER,
    cause       TEXT,                 -- JSON ExitCause
    evidence    TEXT                  -- JSON Evidence
);
CREATE INDEX runs_job ON runs (job, id) WHERE job IS NOT NULL;
CREATE INDEX runs_unit ON runs (unit, id);
CREATE INDEX runs_open ON runs (id) WHERE ended_at IS NULL;

CREATE TABLE postmortems (
    run   INTEGER PRIMARY KEY,
    unit  TEXT NOT NULL,
    body  TEXT NOT NULL              -- JSON PostMortem
);
CREATE INDEX postmortems_unit ON postmortems (unit, run);

-- AUTOINCREMENT: a seq is never reused, even after retention pruned the newest
-- rows' predecessors, so SSE clients can resume by seq safely.
CREATE TABLE events (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at    INTEGER NOT NULL,
    unit  TEXT    NOT NULL,
    body  TEXT    NOT NULL           -- JSON EventKind ({"type": ...})
);

-- The journal: one row per state change, written in the same transaction.
CREATE TABLE transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entity      TEXT    NOT NULL,     -- 'job' or 'run'
    entity_id   INTEGER NOT NULL,
    from_state  TEXT,                 -- NULL when the entity was created
    to_state    TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    reason      TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX transitions_entity ON transitions (entity, entity_id, id);
