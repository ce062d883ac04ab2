//! The ordered pipeline of store writes.
//!
//! The engine never awaits the store inline. Each `Store::apply` call becomes a
//! future in a `FuturesOrdered`, polled by the engine's `select!`; the store's
//! writer thread group-commits whatever is queued, and results come back in
//! submission order. Only then are events published and acknowledgements sent,
//! so a subscriber never sees an event that is not durable and a client never
//! hears "queued" for a job that is not.
//!
//! **An end is never forgotten** (issue 13): a batch recording what already
//! happened (events, a job's transition or end) that fails with a retryable
//! storage error (`StoreError::is_retryable`: disk full, I/O error, busy) is
//! tried again in place with backoff (100 ms doubling to 5 s), so later
//! results still come back in order behind it. Meanwhile [`Unrecorded`]
//! holds the store's reason, and a job whose end waits on it says
//! `end not yet recorded: <reason>` in its view. Once shutdown begins, a
//! failing batch gets one last try and is then left to recovery (the next
//! start ends the run `lost` and its retry policy decides), so SIGTERM on a
//! full disk still ends. Submissions and cancels are not retried: their
//! caller hears the error (507) at once.

use crate::command::Reply;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stockade_proto::{JobId, Submitted};
use stockade_store::{Applied, Store, StoreError, Write};

/// The first and the longest pause between tries of a failing batch.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Whether some batch of facts is waiting for the store, and why; shared by
/// the engine (views, shutdown) and the pipeline.
#[derive(Debug, Default)]
pub struct Unrecorded {
    reason: Mutex<Option<String>>,
    stopping: AtomicBool,
}

impl Unrecorded {
    /// Why a batch of facts is not recorded yet, while one is retried.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, reason: Option<String>) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = reason;
    }

    /// Shutdown began: failing batches stop being retried.
    pub fn stop_retrying(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// The store's error in a few words, for a view.
fn short(err: &StoreError) -> String {
    match err {
        StoreError::DiskFull { .. } => "disk full".to_owned(),
        StoreError::DiskIo { .. } => "disk I/O error".to_owned(),
        other => other.to_string(),
    }
}

/// What to do once a batch of writes committed (or failed).
/// Opaque to the shell: it hands each back, with the commit's result, as
/// [`super::Input::Committed`].
#[derive(Debug)]
pub enum Followup {
    /// Nothing but publishing the events.
    Publish,
    /// A replica's run is journaled: launch it.
    LaunchReplica {
        /// The service's index in the spec.
        service: usize,
        /// The replica.
        replica: u32,
        /// Its box.
        box_name: String,
    },
    /// A job entered `running` and its run is journaled: launch it.
    LaunchJob {
        /// The job.
        job: JobId,
        /// Its box.
        box_name: String,
    },
    /// Submissions are durable: enqueue them and answer.
    Submitted {
        /// The submitter.
        reply: Reply<Vec<Submitted>>,
        /// The pool of each submission, to release its reservation on failure.
        pools: Vec<String>,
    },
    /// A schedule's submission is durable: enqueue it.
    ScheduleSubmitted {
        /// The job template.
        template: String,
        /// Its pool, to release the reservation.
        pool: String,
    },
    /// A job changed state (the record in the result replaces ours).
    JobUpdated {
        /// The job.
        job: JobId,
    },
    /// A queued job was cancelled: answer once that is committed.
    Cancelled {
        /// The job.
        job: JobId,
        /// The canceller.
        reply: Reply<stockade_proto::JobView>,
    },
}

/// A finished batch.
#[derive(Debug)]
pub struct Done {
    /// What the engine asked to do once it committed.
    pub followup: Followup,
    /// What the store applied, in write order, or why it failed.
    pub result: Result<Vec<Applied>, StoreError>,
}

/// The pipeline (the shell's).
pub(super) struct Commits {
    store: Store,
    pending: FuturesOrdered<BoxFuture<'static, Done>>,
    unrecorded: Arc<Unrecorded>,
}

impl Commits {
    pub fn new(store: Store) -> Commits {
        Commits { store, pending: FuturesOrdered::new(), unrecorded: Arc::default() }
    }

    /// Share the engine's note of unrecorded facts.
    pub fn share(&mut self, unrecorded: Arc<Unrecorded>) {
        self.unrecorded = unrecorded;
    }

    /// Queue `writes` as one atomic unit.
    pub fn push(&mut self, writes: Vec<Write>, followup: Followup) {
        let store = self.store.clone();
        let facts = matches!(followup, Followup::Publish | Followup::JobUpdated { .. });
        let unrecorded = self.unrecorded.clone();
        self.pending.push_back(Box::pin(async move {
            if !facts {
                let result = store.apply(writes).await;
                return Done { followup, result };
            }
            let mut pause = RETRY_FIRST;
            let mut failed = false;
            loop {
                let result = store.apply(writes.clone()).await;
                match result {
                    Err(err) if err.is_retryable() && !unrecorded.stopping.load(Ordering::Relaxed) => {
                        if !failed {
                            tracing::warn!(error = %err, "could not record what happened; retrying until the store can write");
                            failed = true;
                        }
                        unrecorded.set(Some(short(&err)));
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(RETRY_MAX);
                    }
                    result => {
                        if failed {
                            unrecorded.set(None);
                            if result.is_ok() {
                                tracing::info!("recorded what happened while the store could not write");
                            }
                        }
                        return Done { followup, result };
                    }
                }
            }
        }));
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub async fn next(&mut self) -> Option<Done> {
        self.pending.next().await
    }
}

impl super::Engine {
    /// Queue writes whose only follow-up is publishing their events.
    pub(super) fn persist(&mut self, writes: Vec<Write>) {
        if !writes.is_empty() {
            self.commit(writes, Followup::Publish);
        }
    }

    /// Ask for `writes` to be committed as one unit, then `then`.
    pub(super) fn commit(&mut self, writes: Vec<Write>, then: Followup) {
        self.pending_commits += 1;
        self.effects.push(super::Effect::Persist { writes, then });
    }

    pub(super) fn on_commit(&mut self, done: Done) {
        self.pending_commits = self.pending_commits.saturating_sub(1);
        if let Ok(applied) = &done.result {
            for event in applied.iter().filter_map(Applied::event) {
                self.effects.push(super::Effect::Publish(event.clone()));
            }
        }
        match done.followup {
            Followup::Publish => {
                if let Err(e) = done.result {
                    tracing::error!(error = %e, "could not record events");
                }
            }
            Followup::LaunchReplica { service, replica, box_name } => {
                let run = done.result.map(|a| a.iter().find_map(Applied::run));
                self.launch_replica_committed(service, replica, box_name, run);
            }
            Followup::LaunchJob { job, box_name } => {
                self.launch_job_committed(job, box_name, done.result)
            }
            Followup::Submitted { reply, pools } => self.submitted(reply, pools, done.result),
            Followup::ScheduleSubmitted { template, pool } => {
                self.schedule_submitted(template, pool, done.result)
            }
            Followup::JobUpdated { job } => self.job_updated(job, done.result),
            Followup::Cancelled { job, reply } => {
                let answer = match &done.result {
                    Ok(applied) => applied
                        .iter()
                        .find_map(Applied::job)
                        .map(crate::engine::views::job_view_from_record)
                        .ok_or(crate::EngineError::UnknownJob { id: job }),
                    Err(e) => Err(crate::EngineError::Store(e.clone())),
                };
                self.job_updated(job, done.result);
                let _ = reply.send(answer);
            }
        }
    }
}
