//! [`AlertBoard`]: the alerts firing now, shared between the monitor (which
//! changes it) and `/api/status` and `/metrics` (which read it).

use super::Change;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use stockade_proto::{FiringAlert, UnixMillis};
use stockade_spec::AlertSpec;

/// (alert, unit) → since when it fires (`None`: known, not firing).
type Entries = BTreeMap<(String, String), Option<(UnixMillis, String)>>;

/// What is firing. Cheap to clone; every clone is the same board.
#[derive(Debug, Clone, Default)]
pub struct AlertBoard {
    entries: Arc<Mutex<Entries>>,
}

impl AlertBoard {
    /// A board that knows every declared rule (not firing), so `/metrics`
    /// reports a zero for each rather than no series at all.
    pub fn new(rules: &[AlertSpec]) -> AlertBoard {
        let entries =
            rules.iter().map(|r| ((r.name.clone(), r.signal.unit().to_owned()), None)).collect();
        AlertBoard { entries: Arc::new(Mutex::new(entries)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves a map that is
        // still consistent (every update is one insert).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Apply a change made at `at`.
    pub(crate) fn apply(&self, change: &Change, at: UnixMillis) {
        let value = change.firing.then(|| (at, change.message.clone()));
        self.lock().insert((change.alert.clone(), change.unit.clone()), value);
    }

    /// Know every rule of `rules` (a reload's): one not on the board yet is
    /// added, not firing.
    pub(crate) fn declare(&self, rules: &[AlertSpec]) {
        let mut entries = self.lock();
        for r in rules {
            entries.entry((r.name.clone(), r.signal.unit().to_owned())).or_insert(None);
        }
    }

    /// Forget `(alert, unit)`: its rule is gone (a reload removed it).
    pub(crate) fn forget(&self, key: &(String, String)) {
        self.lock().remove(key);
    }

    /// Every alert firing now, by alert name then unit.
    pub fn firing(&self) -> Vec<FiringAlert> {
        self.lock()
            .iter()
            .filter_map(|((alert, unit), state)| {
                let (since, message) = state.clone()?;
                Some(FiringAlert { alert: alert.clone(), unit: unit.clone(), message, since })
            })
            .collect()
    }

    /// (alert, unit, 1 if firing else 0) for every alert known.
    pub fn gauge(&self) -> Vec<(String, String, u64)> {
        self.lock()
            .iter()
            .map(|((alert, unit), state)| (alert.clone(), unit.clone(), u64::from(state.is_some())))
            .collect()
    }
}
