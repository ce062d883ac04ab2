//! The closing lines: the 1 ms target under each setting, and the stages
//! measured alone, put on the watcher's critical path, set against the
//! end-to-end medians.

use crate::kill::Latencies;
use crate::table::{fmt, median};
use std::time::Duration;

/// Medians of the stages measured alone.
pub(crate) struct StageMedians {
    pub(crate) reap: Duration,
    pub(crate) finish: Duration,
    pub(crate) drain: Duration,
    pub(crate) snapshot: Duration,
    /// The store commit of a death with `synchronous=FULL`.
    pub(crate) full: Duration,
    /// The same with `synchronous=NORMAL`.
    pub(crate) normal: Duration,
}

impl StageMedians {
    /// After the reap the watcher finishes the box while a blocking thread
    /// reads the host snapshot, drains the pipes, then awaits the snapshot:
    /// so the slower of (finish + drain) and the snapshot, then the commit.
    fn critical_path(&self, commit: Duration) -> Duration {
        self.reap + (self.finish + self.drain).max(self.snapshot) + commit
    }

    /// The part of the critical path after the box's rmdir.
    fn after_removal(&self, commit: Duration) -> Duration {
        self.drain.max(self.snapshot.saturating_sub(self.finish)) + commit
    }
}

/// Print the closing lines for the service scenario under both settings.
pub(crate) fn print_summary(stages: &StageMedians, full: &Latencies, normal: &Latencies) {
    let target = Duration::from_millis(1);
    println!();
    for (name, out, commit) in [("FULL", full, stages.full), ("NORMAL", normal, stages.normal)] {
        let total = median(&out.commit);
        let verdict = if total <= target {
            format!("met, {} to spare", fmt(target - total))
        } else {
            format!("missed by {}", fmt(total - target))
        };
        let path = stages.critical_path(commit);
        println!(
            "service kill → committed, synchronous={name}: median {}, target ≤ 1 ms {verdict}. \
             Stages alone on the critical path (reap + max(finish + drain, snapshot) + commit): {}; \
             the rest ({}) is task hops, the engine's step and scheduling.",
            fmt(total),
            fmt(path),
            fmt(total.saturating_sub(path)),
        );
        if !out.box_removed.is_empty() {
            println!(
                "  inside the daemon: kill → box removed {} (reap + finish alone: {}), box removed → committed {} (max(drain, snapshot − finish) + commit alone: {}).",
                fmt(median(&out.box_removed)),
                fmt(stages.reap + stages.finish),
                fmt(median(&out.removed_to_commit)),
                fmt(stages.after_removal(commit)),
            );
        }
    }
    println!(
        "the store commit alone: FULL {}, NORMAL {} (NORMAL saves {} per death there); end to end NORMAL saves {} (difference of the medians).",
        fmt(stages.full),
        fmt(stages.normal),
        fmt(stages.full.saturating_sub(stages.normal)),
        signed(median(&full.commit), median(&normal.commit)),
    );
}

/// `from − to`, signed, as [`fmt`] would print it.
fn signed(from: Duration, to: Duration) -> String {
    if from >= to { fmt(from - to) } else { format!("-{}", fmt(to - from)) }
}
