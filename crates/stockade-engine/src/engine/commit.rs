//! The ordered pipeline of store writes.
//!
//! The engine never awaits the store inline. Each `Store::apply` call becomes a
//! future in a `FuturesOrdered`, polled by the engine's `select!`; the store's
//! writer thread group-commits whatever is queued, and results come back in
//! submission order. Only then are events published and acknowledgements sent,
//! so a subscriber never sees an event that is not durable and a client never
//! hears "queued" for a job that is not.

use crate::command::Reply;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use stockade_proto::{JobId, Submitted};
use stockade_store::{Applied, Store, StoreError, Write};

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
}

impl Commits {
    pub fn new(store: Store) -> Commits {
        Commits { store, pending: FuturesOrdered::new() }
    }

    /// Queue `writes` as one atomic unit.
    pub fn push(&mut self, writes: Vec<Write>, followup: Followup) {
        let store = self.store.clone();
        self.pending.push_back(Box::pin(async move {
            let result = store.apply(writes).await;
            Done { followup, result }
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
