-- The `Idempotency-Key` a job was submitted with (POST /api/jobs): a retried
-- submission with the same key answers the first job instead of queuing a
-- second one. Unique where set; NULL for jobs submitted without a key.
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
