-- Services a `stockade stop` left down: the next daemon keeps them down
-- instead of starting them with the rest (`stockade start` removes the row).
CREATE TABLE held_services (
    service TEXT    PRIMARY KEY,
    at      INTEGER NOT NULL        -- unix millis of the stop
);
