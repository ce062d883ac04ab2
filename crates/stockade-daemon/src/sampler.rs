//! The host sampler: once a second, read the host on a blocking thread and
//! hand the engine a [`HostSample`] (headroom above the reserve, PSI). The
//! engine admits jobs and adapts `auto` pools from these; it never reads
//! `/proc` itself.

use std::time::Duration;
use stockade_engine::engine::HostSample;
use stockade_host::{HostFacts, HostRoot, Reserve, headroom};
use tokio::sync::mpsc;

/// How often the host is read. PSI's shortest average is 10 s, so a second
/// is fine-grained enough, and a read costs ~0.3 ms.
const PERIOD: Duration = Duration::from_secs(1);

/// Sample until the engine stops listening.
pub async fn run(root: HostRoot, reserve: Reserve, samples: mpsc::UnboundedSender<HostSample>) {
    loop {
        let root = root.clone();
        let Ok(facts) = tokio::task::spawn_blocking(move || HostFacts::read(&root)).await else {
            return;
        };
        let pressure = facts.pressure.as_ref().ok();
        let sample = HostSample {
            headroom: Some(headroom(&facts, &reserve)),
            psi_memory_some: pressure.map(|p| p.memory.some.avg10),
            psi_cpu_some: pressure.map(|p| p.cpu.some.avg10),
        };
        if samples.send(sample).is_err() {
            return;
        }
        tokio::time::sleep(PERIOD).await;
    }
}
