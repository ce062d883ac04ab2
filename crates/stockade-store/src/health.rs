//! [`StoreHealth`]: whether the store can write right now, and why not.
//!
//! The writer thread records the outcome of every batch here; readers
//! ([`crate::Store::health`], the daemon's `/health/ready`) take a snapshot
//! without waiting for the writer.

use std::sync::Mutex;

/// A snapshot of the store's ability to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// Commits succeed and new submissions are admitted. `false` while the
    /// last batch failed with a storage error, while the reserve is released
    /// (disk full), or once the writer has stopped.
    pub ready: bool,
    /// Why not, with a hint (`None` when ready).
    pub reason: Option<String>,
    /// New submissions are refused (the reserve is released), while writes
    /// recording what already happened are still tried.
    pub refusing_submissions: bool,
    /// The reserve file is allocated (always `false` with no reserve configured).
    pub reserve_held: bool,
    /// Bytes available on the store's filesystem, when statvfs answers.
    pub free_bytes: Option<u64>,
    /// Since when (unix millis) the store has not been ready.
    pub failing_since: Option<u64>,
    /// Batches that failed to commit since open.
    pub failed_transactions: u64,
}

/// What the writer thread reports.
#[derive(Debug, Default)]
pub(crate) struct HealthState {
    inner: Mutex<State>,
}

#[derive(Debug, Default, Clone)]
struct State {
    /// The last storage failure, if the last batch failed.
    failure: Option<String>,
    /// The reserve is released: submissions are refused.
    degraded: bool,
    reserve_held: bool,
    since: Option<u64>,
    closed: bool,
}

impl HealthState {
    fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut state);
        let bad = state.failure.is_some() || state.degraded || state.closed;
        match (bad, state.since) {
            (true, None) => state.since = Some(crate::marker::now_millis()),
            (false, Some(_)) => state.since = None,
            _ => {}
        }
    }

    /// A batch committed.
    pub(crate) fn committed(&self) {
        self.update(|s| s.failure = None);
    }

    /// A batch failed with a storage error (full disk, I/O error).
    pub(crate) fn failed(&self, reason: String) {
        self.update(|s| s.failure = Some(reason));
    }

    /// The last batch failed with a storage error (no commit since).
    pub(crate) fn failing(&self) -> bool {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).failure.is_some()
    }

    /// The reserve was released (`true`) or allocated again (`false`).
    pub(crate) fn set_degraded(&self, degraded: bool, reserve_held: bool) {
        self.update(|s| {
            s.degraded = degraded;
            s.reserve_held = reserve_held;
        });
    }

    /// The writer thread has stopped.
    pub(crate) fn closed(&self) {
        self.update(|s| s.closed = true);
    }

    pub(crate) fn snapshot(&self, free_bytes: Option<u64>, failed: u64) -> StoreHealth {
        let state = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let reason = if state.closed {
            Some("the store's writer has stopped; hint: restart the daemon".to_string())
        } else if let Some(failure) = &state.failure {
            Some(failure.clone())
        } else if state.degraded {
            Some("the store's filesystem is full: its reserve is released and new submissions are refused; hint: free space (df -h); the store recovers by itself".to_string())
        } else {
            None
        };
        StoreHealth {
            ready: reason.is_none(),
            reason,
            refusing_submissions: state.degraded,
            reserve_held: state.reserve_held,
            free_bytes,
            failing_since: state.since,
            failed_transactions: failed,
        }
    }
}
