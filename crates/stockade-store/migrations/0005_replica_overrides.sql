-- What `stockade scale` and a one-replica `stockade stop NAME[N]` leave for
-- the next daemon (issue 14).

-- A service's replica count set by `stockade scale`. It holds while the
-- spec's `replicas` is still `spec_replicas`, the value it overrode: a spec
-- whose `replicas` changed (on reload or at the next start) wins and the
-- row is forgotten. Scaling back to the spec's count removes the row.
CREATE TABLE scaled_services (
    service       TEXT    PRIMARY KEY,
    replicas      INTEGER NOT NULL,
    spec_replicas INTEGER NOT NULL,
    at            INTEGER NOT NULL   -- unix millis of the scale
);

-- Replicas a `stockade stop NAME[N]` left down: the next daemon keeps them
-- down. `start`/`restart` of the replica or of its whole service removes
-- the row, and so does a scale below it.
CREATE TABLE held_replicas (
    service TEXT    NOT NULL,
    replica INTEGER NOT NULL,
    at      INTEGER NOT NULL,        -- unix millis of the stop
    PRIMARY KEY (service, replica)
);
