//! [`StoreRuns`]: which logs' owners are live, from the engine and the store,
//! and when the others' last runs ended, from the store.
//!
//! Live: a job still `queued` or `running` (a queued job may be a retry
//! that appends to the same file), any run the store has not seen end (a
//! box left for the next daemon to adopt), and a service replica the engine
//! has not stopped or given up on (one backing off between runs has no
//! open run but is not done). The set is read after the files were
//! scanned, so a file that appeared in between belongs to an owner it
//! already counts.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use stockade_proto::{ServiceState, StatusView, UnitKind, UnixMillis};
use stockade_store::{Store, StoreError};

use super::logs::{Owner, Runs};

/// The live owners, and the store to ask when the others ended.
pub(crate) struct StoreRuns {
    store: Store,
    live: HashSet<Owner>,
}

impl StoreRuns {
    /// `replicas`: the service replicas the engine counts as live (see
    /// [`live_replicas`]); the store adds unfinished jobs and open runs.
    /// Blocking: it reads the store.
    pub(crate) fn read(
        store: Store,
        replicas: impl IntoIterator<Item = Owner>,
    ) -> Result<StoreRuns, StoreError> {
        let mut live: HashSet<Owner> = replicas.into_iter().collect();
        live.extend(store.unfinished_jobs()?.into_iter().map(|job| Owner::Job(job.id)));
        for run in store.open_runs()? {
            live.insert(match (run.kind, run.job) {
                (UnitKind::Job, Some(job)) => Owner::Job(job),
                _ => Owner::Replica { service: run.unit, replica: run.replica },
            });
        }
        Ok(StoreRuns { store, live })
    }
}

/// The replicas in `status` that have or will have a run: every state but
/// stopped and gave up.
pub(crate) fn live_replicas(status: &StatusView) -> Vec<Owner> {
    status
        .services
        .iter()
        .filter(|r| !matches!(r.state, ServiceState::Stopped | ServiceState::GaveUp))
        .map(|r| Owner::Replica { service: r.service.clone(), replica: r.replica })
        .collect()
}

impl Runs for StoreRuns {
    fn is_live(&self, owner: &Owner) -> bool {
        self.live.contains(owner)
    }

    fn ended_at(&self, owner: &Owner) -> Option<SystemTime> {
        let ended = match owner {
            Owner::Job(job) => self.store.job_ended_at(*job),
            Owner::Replica { service, replica } => self.store.replica_ended_at(service, *replica),
        };
        match ended {
            Ok(at) => at.map(system_time),
            Err(err) => {
                // Unknown then: the files' own times decide.
                tracing::warn!(%err, ?owner, "log retention cannot read when a run ended");
                None
            }
        }
    }
}

fn system_time(at: UnixMillis) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(at)
}
