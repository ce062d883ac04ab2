//! The headline scenario: a restarting service killed [`DEATHS`] times on
//! each of two daemons at once, one whose store commits with
//! `synchronous=FULL` and one with `NORMAL`, their deaths interleaved.
//!
//! Interleaved rather than one after the other because fsync latency on
//! this shared machine swings by 10× from minute to minute: round by round
//! both daemons see the same disk, so the difference between them is the
//! setting and not the hour. Each death is still alone: after a kill the
//! bench waits for that daemon's restart to be seen before it touches the
//! other, and the first of each round alternates.

use crate::disk::{DiskProbe, DiskSamples};
use crate::kill::{Latencies, Measure, Started, kill_one, kill_run, next_run};
use crate::observe::{Observers, observe};
use crate::{DEATHS, PATIENCE, RESTART_FAST, WARMUP};
use stockade_proto::{Limits, PostMortem, RunId};
use stockade_store::Synchronous;
use stockade_testkit::TestDaemon;

/// What the service scenario measured under each setting.
pub(crate) struct ServiceRuns {
    pub(crate) full: Latencies,
    pub(crate) normal: Latencies,
    /// The limits the service's boxes had (the stages alone reuse them).
    pub(crate) limits: Limits,
    /// The disk-bound stages, sampled before every death of both daemons.
    pub(crate) disk: DiskSamples,
}

/// One daemon of the pair, with its service's current run.
struct Victim {
    daemon: TestDaemon,
    obs: Observers,
    current: Started,
    out: Latencies,
}

/// Both daemons, [`WARMUP`] unmeasured deaths each, then [`DEATHS`]
/// interleaved rounds with the disk-bound stages sampled before every death.
pub(crate) async fn kill_services() -> ServiceRuns {
    let (mut full, limits, last) = Victim::start(Synchronous::Full).await;
    let (mut normal, _, _) = Victim::start(Synchronous::Normal).await;
    // A real post-mortem (of a warm-up death) for the store samples.
    let reply = full.daemon.api.get(&format!("/api/postmortems/{last}")).await;
    let postmortem: PostMortem = serde_json::from_value(reply.json.clone())
        .unwrap_or_else(|e| panic!("post-mortem of run {last}: {e}: {}", reply.json));
    let mut disk = DiskProbe::open(postmortem);
    for round in 0..DEATHS {
        let order =
            if round % 2 == 0 { [&mut full, &mut normal] } else { [&mut normal, &mut full] };
        for victim in order {
            victim.kill(&mut disk).await;
        }
    }
    full.daemon.stop().await.expect("the FULL daemon stops");
    normal.daemon.stop().await.expect("the NORMAL daemon stops");
    ServiceRuns { full: full.out, normal: normal.out, limits, disk: disk.samples }
}

impl Victim {
    /// A daemon with `synchronous` serving the restarting service, warmed
    /// up, its next run started. Also returns the limits of its boxes and
    /// the last run killed in the warm-up.
    async fn start(synchronous: Synchronous) -> (Victim, Limits, RunId) {
        let (name, keys) = match synchronous {
            Synchronous::Full => ("death-full", "synchronous = \"full\""),
            Synchronous::Normal => ("death-normal", "synchronous = \"normal\""),
        };
        let spec = format!("[service.victim]\ncommand = [\"sleep\", \"600\"]\n{RESTART_FAST}");
        let dir = tempfile::tempdir().expect("tempdir");
        let daemon = TestDaemon::start_with(name, keys, &spec, dir).await;
        let mut obs = observe(&daemon).await;
        // The first run may have started before we subscribed: kill it unmeasured.
        let (first, pid, limits) =
            stockade_testkit::wait_until("the first replica", PATIENCE, || async {
                let status = daemon.running.engine.status().await.ok()?;
                status.services.iter().find_map(|r| Some((r.run?, r.pid?, r.limits.clone())))
            })
            .await;
        // SAFETY: kill(2) has no memory-safety preconditions; the replica is
        // running and not yet reaped, so the pid cannot have been reused.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let mut last = first;
        for _ in 0..WARMUP {
            let warmup = Measure { latencies: None, disk: None };
            last = kill_one(&mut obs, "victim", last, warmup).await;
        }
        let current = next_run(&mut obs, "victim", last).await;
        (Victim { daemon, obs, current, out: Latencies::default() }, limits, last)
    }

    /// Kill the current run, measured, and wait for its successor to start
    /// so that no restart is in flight when the other daemon's turn comes.
    async fn kill(&mut self, disk: &mut DiskProbe) {
        let measure = Measure { latencies: Some(&mut self.out), disk: Some(disk) };
        kill_run(&mut self.obs, self.current, measure).await;
        self.current = next_run(&mut self.obs, "victim", self.current.run).await;
    }
}
