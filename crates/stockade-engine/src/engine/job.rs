//! [`Job`]: a live job — its committed record and its [`JobLife`] — and the
//! one place a job-state write is built.

use super::job_life::JobLife;
use super::queue::{QueueKey, queue_key};
use stockade_proto::JobState;
use stockade_store::{JobRecord, Write};
use tokio::time::Instant;

pub(super) struct Job {
    /// The row as last committed.
    pub record: JobRecord,
    /// Where it is now.
    pub life: JobLife,
}

impl Job {
    /// A job entering its pool's queue at `now`.
    pub fn queued(record: JobRecord, now: Instant, retry_at: Option<Instant>) -> Job {
        Job { record, life: JobLife::queued(now, retry_at) }
    }

    /// Where it sorts in its pool's queue.
    pub fn key(&self) -> QueueKey {
        queue_key(self.record.priority, self.record.id)
    }

    /// The write of a move of the committed state, fenced by `from` and the
    /// attempt the engine saw.
    pub fn journal(&self, from: JobState, to: JobState, reason: Option<String>) -> Write {
        Write::JobState { job: self.record.id, from, to, attempt: self.record.attempt, reason }
    }
}
