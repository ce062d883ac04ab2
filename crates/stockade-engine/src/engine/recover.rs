//! Recovery at start: put back what the store says was queued or running
//! when the daemon last stopped, and learn each template's request from its
//! past runs. Boxes of runs left open are emptied first, so nothing runs
//! twice past its attempt fence; those runs end as `lost`.

use super::Engine;
use super::job::Job;
use crate::EngineError;
use crate::launcher::Launcher;
use stockade_proto::{Evidence, ExitCause, JobState, now_millis};
use stockade_store::Store;
use stockade_store::{JobRecord, Write};

use tokio::time::Instant;

impl Engine {
    pub(super) fn recover(
        &mut self,
        store: &Store,
        launcher: &mut dyn Launcher,
    ) -> Result<(), EngineError> {
        for name in self.spec.jobs.keys() {
            if let Some(peaks) = store.unit_peaks(name)? {
                self.requests.seed(name, peaks.memory_peak, peaks.pids_peak);
            }
        }
        let mut writes = Vec::new();
        for run in store.open_runs()? {
            let decided_by = match launcher.reclaim(&run.box_name) {
                Ok(0) => "the daemon restarted and the box was empty".to_string(),
                Ok(n) => {
                    format!("the daemon restarted; {n} process(es) still in the box were killed")
                }
                Err(e) => format!("the daemon restarted; the box could not be checked: {e}"),
            };
            let evidence = Evidence { decided_by, ..Evidence::default() };
            writes.push(Write::EndRun {
                run: run.id,
                cause: ExitCause::Lost,
                evidence,
                ended_at: now_millis(),
            });
        }
        let now = Instant::now();
        for record in store.unfinished_jobs()? {
            if let Some(record) = self.recover_job(record, &mut writes) {
                self.enqueue(Job::queued(record, now, None));
            }
        }
        if !writes.is_empty() {
            self.persist(writes);
        }
        Ok(())
    }

    /// The record to queue again, if the job goes on; otherwise the write
    /// that ends it is added to `writes`.
    fn recover_job(&self, mut record: JobRecord, writes: &mut Vec<Write>) -> Option<JobRecord> {
        let Some(template) =
            self.spec.jobs.get(&record.template).filter(|_| self.pools.contains_key(&record.pool))
        else {
            let reason = format!(
                "template `{}` or pool `{}` is no longer in the spec",
                record.template, record.pool
            );
            writes.push(state_write(&record, JobState::Failed, reason));
            return None;
        };
        if record.state != JobState::Running {
            return Some(record);
        }
        let retry_lost = template.retries.on.iter().any(|k| k == "lost");
        let attempt = record.attempt;
        if retry_lost && attempt < record.max_attempts {
            let reason = format!("lost at attempt {attempt}: the daemon restarted");
            writes.push(state_write(&record, JobState::Queued, reason.clone()));
            record.state = JobState::Queued;
            record.reason = Some(reason);
            Some(record)
        } else {
            let reason = format!("lost at attempt {attempt}: the daemon restarted; not retried");
            writes.push(state_write(&record, JobState::Failed, reason));
            None
        }
    }
}

/// A recovered job's move from its stored state (it has no life yet).
fn state_write(record: &JobRecord, to: JobState, reason: String) -> Write {
    Write::JobState {
        job: record.id,
        from: record.state,
        to,
        attempt: record.attempt,
        reason: Some(reason),
    }
}
