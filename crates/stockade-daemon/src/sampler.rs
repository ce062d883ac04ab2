//! The host sampler: once a second, read the host on a blocking thread and
//! hand the engine a [`HostSample`] (headroom above the reserve, PSI). The
//! engine admits jobs and adapts `auto` pools from these; it never reads
//! `/proc` itself. The same read is kept as the [`Latest`] snapshot, which
//! a post-mortem takes when a death arrives without the launcher's own (at
//! most a second old, and no `/proc` read on the engine's task), and goes to
//! the monitor's alert rules as [`HostLevels`] (headroom of memory and
//! tasks, every PSI line).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use stockade_engine::engine::HostSample;
use stockade_host::{HostFacts, HostRoot, Reserve, headroom};
use stockade_proto::HostSnapshot;
use tokio::sync::{mpsc, watch};

use crate::monitor::HostLevels;

/// How often the host is read. PSI's shortest average is 10 s, so a second
/// is fine-grained enough, and a read costs ~0.3 ms.
const PERIOD: Duration = Duration::from_secs(1);

/// The newest host snapshot (`None` until the first read).
pub type Latest = Arc<Mutex<Option<HostSnapshot>>>;

/// Sample until the engine stops listening.
pub async fn run(
    root: HostRoot,
    reserve: Reserve,
    samples: mpsc::UnboundedSender<HostSample>,
    latest: Latest,
    levels: watch::Sender<Option<HostLevels>>,
) {
    loop {
        let root = root.clone();
        let read = tokio::task::spawn_blocking(move || {
            let facts = HostFacts::read(&root);
            let snapshot = facts.snapshot();
            (facts, snapshot)
        });
        let Ok((facts, snapshot)) = read.await else {
            return;
        };
        *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
        let pressure = facts.pressure.as_ref().ok();
        let room = headroom(&facts, &reserve);
        levels.send_replace(Some(HostLevels {
            memory: room.memory,
            tasks: room.tasks,
            pressure: pressure.copied(),
        }));
        let sample = HostSample {
            headroom: Some(room),
            psi_memory_some: pressure.map(|p| p.memory.some.avg10),
            psi_cpu_some: pressure.map(|p| p.cpu.some.avg10),
        };
        if samples.send(sample).is_err() {
            return;
        }
        tokio::time::sleep(PERIOD).await;
    }
}
