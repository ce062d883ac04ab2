//! The host sampler: once a second, read the host on a blocking thread and
//! hand the engine a [`HostSample`] (headroom above the reserve, PSI). The
//! engine admits jobs and adapts `auto` pools from these; it never reads
//! `/proc` itself. The same reading goes to the monitor's alert rules as
//! [`HostLevels`] (headroom of memory and tasks, every PSI line).

use std::time::Duration;
use stockade_engine::engine::HostSample;
use stockade_host::{HostFacts, HostRoot, Reserve, headroom};
use tokio::sync::{mpsc, watch};

use crate::monitor::HostLevels;

/// How often the host is read. PSI's shortest average is 10 s, so a second
/// is fine-grained enough, and a read costs ~0.3 ms.
const PERIOD: Duration = Duration::from_secs(1);

/// Sample until the engine stops listening.
pub async fn run(
    root: HostRoot,
    reserve: Reserve,
    samples: mpsc::UnboundedSender<HostSample>,
    levels: watch::Sender<Option<HostLevels>>,
) {
    loop {
        let root = root.clone();
        let Ok(facts) = tokio::task::spawn_blocking(move || HostFacts::read(&root)).await else {
            return;
        };
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
