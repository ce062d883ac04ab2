//! The daemon as a cluster member: the bridge between this host's engine
//! (which runs every claimed job as an ordinary local job, in its box, with
//! its retries and post-mortem in the local SQLite journal) and the shared
//! PostgreSQL queue (`stockade_cluster`).
//!
//! Four tasks:
//! - **beat**: every `heartbeat`, publish this host's room and renew its
//!   lease and its jobs' leases in one statement; reconcile what the cluster
//!   says we hold with what runs here; if leader, rescue and expire.
//! - **watchdog**: if no renewal succeeded for `stop_after` (measured from
//!   when the last successful one was *sent*), stop every cluster run here
//!   before anyone else may take them, and claim nothing until renewed.
//! - **claim**: on a wake-up (`LISTEN`, a local ending) or every `poll`,
//!   claim what fits this host's room and submit it to the engine under the
//!   local idempotency key `cluster:<id>:<attempt>`.
//! - **ends**: report each local ending with its fence; a refused one was
//!   taken away meanwhile and is counted as fenced.
//!
//! In cluster mode every local job belongs to the cluster: API submissions
//! go to the shared queue, and the engine's own schedules are off (the
//! leader fires them once cluster-wide).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use stockade_cluster::{
    Beat, Budget, ClusterError, Completion, End, Fence, Member, MemberOptions, NewJob,
};
use stockade_engine::{EngineError, EngineHandle};
use stockade_proto::{EventKind, Headroom, JobId, JobRequest, JobSource, JobState};
use stockade_spec::{ClusterConfig, Spec};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs claimed by this host.
    pub claims: AtomicU64,
    /// Completions the cluster accepted.
    pub completions: AtomicU64,
    /// Completions refused or runs taken away: the job was no longer ours.
    pub fenced: AtomicU64,
    /// Jobs this host (as leader) re-queued from lost hosts.
    pub rescued: AtomicU64,
    /// Jobs this host (as leader) expired.
    pub expired: AtomicU64,
    /// Times this host stopped its own runs for want of a renewed lease.
    pub self_fences: AtomicU64,
}

/// A cluster run on this host.
#[derive(Debug, Clone)]
struct Run {
    fence: Fence,
    memory: u64,
    started: bool,
    /// When it was claimed: a heartbeat sent before cannot know it.
    claimed: Instant,
}

#[derive(Debug)]
struct Status {
    /// Why this member is not claiming, in words.
    degraded: Option<String>,
    /// When the last successful renewal was sent.
    renewed: Instant,
    /// The runs were stopped for want of a lease; claim nothing until renewed.
    cut_off: bool,
    draining: bool,
    leader: bool,
    lease_age: Duration,
}

/// Every cluster run this host knows of, by state. Never locked across an
/// await: the watchdog must be able to stop every run at once, whatever
/// the database is doing.
#[derive(Debug, Default)]
struct Book {
    /// Local job → its cluster run, while it runs here.
    runs: HashMap<JobId, Run>,
    /// Claimed, not yet submitted locally.
    claiming: Vec<Fence>,
    /// Ended here; its report is being sent (`true`), or waits for the
    /// database (`false`, retried every beat).
    ending: Vec<(JobId, Fence, End, bool)>,
    /// Fences the last heartbeat said we hold but found no run for: given
    /// back if the next one says so again (a claim or an ending in flight
    /// explains one beat, never two).
    orphans: Vec<Fence>,
}

impl Book {
    fn knows(&self, fence: &Fence) -> bool {
        self.runs.values().any(|r| &r.fence == fence)
            || self.claiming.contains(fence)
            || self.ending.iter().any(|(_, f, _, _)| f == fence)
    }
}

struct Inner {
    options: MemberOptions,
    member: Mutex<Member>,
    engine: EngineHandle,
    store: stockade_store::Store,
    reloader: Arc<crate::reload::Reloader>,
    book: Mutex<Book>,
    status: Mutex<Status>,
    wake: tokio::sync::Notify,
    counters: Counters,
    stop: CancellationToken,
}

/// This daemon's membership, shared by the API and metrics.
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("host", &self.0.options.host).finish()
    }
}

/// The spec the engine runs in cluster mode: no local schedules.
pub fn engine_spec(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    for job in spec.jobs.values_mut() {
        job.schedule = None;
    }
    spec
}

/// This state dir's member instance id, made once.
fn instance(state_dir: &Path) -> anyhow::Result<String> {
    let path = state_dir.join("cluster-instance");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim().to_owned();
        if !id.is_empty() {
            return Ok(id);
        }
    }
    let bytes: [u8; 12] = rand::random();
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, format!("{id}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

/// This host's cluster name: `[cluster] host`, else the kernel's node name.
pub fn host_name(config: &ClusterConfig) -> String {
    config
        .host
        .clone()
        .unwrap_or_else(|| rustix::system::uname().nodename().to_string_lossy().into_owned())
}

fn template_job(spec: &Spec, request: &JobRequest) -> Result<NewJob, EngineError> {
    let Some(template) = spec.job(&request.template) else {
        return Err(EngineError::UnknownTemplate {
            name: request.template.clone(),
            known: spec.jobs.keys().cloned().collect(),
        });
    };
    let pool = spec.pools.get(&template.pool);
    Ok(NewJob {
        template: template.name.clone(),
        pool: template.pool.clone(),
        args: request.args.clone(),
        env: request.env.clone(),
        priority: request.priority.unwrap_or(template.priority),
        max_attempts: template.retries.max + 1,
        memory: template.limits.memory.unwrap_or(0),
        tasks: template.limits.pids.unwrap_or(0),
        idempotency_key: request.idempotency_key.clone(),
        source: JobSource::Api,
        queue_timeout: pool.and_then(|p| p.queue_timeout),
        max_queued: pool.map(|p| p.max_queued),
    })
}

impl Cluster {
    /// Join the cluster (before serving): refuse to start on a database that
    /// cannot be reached, a newer schema, a name another member holds or a
    /// clock too far off.
    pub async fn join(
        config: &ClusterConfig,
        state_dir: &Path,
        engine: EngineHandle,
        store: stockade_store::Store,
        reloader: Arc<crate::reload::Reloader>,
    ) -> anyhow::Result<Cluster> {
        let options = MemberOptions {
            config: config.clone(),
            host: host_name(config),
            instance: instance(state_dir)?,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let (member, joined) = Member::join(options.clone())
            .await
            .with_context(|| format!("cannot join the cluster as host {:?}", options.host))?;
        tracing::info!(host = %member.host(), epoch = member.epoch(), kept = joined.kept.len(), skew_ms = joined.clock_skew_ms, "cluster member");
        let cluster = Cluster(Arc::new(Inner {
            options,
            member: Mutex::new(member),
            engine,
            store,
            reloader,
            book: Mutex::default(),
            status: Mutex::new(Status {
                degraded: None,
                renewed: Instant::now(),
                cut_off: false,
                draining: false,
                leader: false,
                lease_age: Duration::ZERO,
            }),
            wake: tokio::sync::Notify::new(),
            counters: Counters::default(),
            stop: CancellationToken::new(),
        }));
        cluster.adopt(joined.kept).await;
        Ok(cluster)
    }

    fn member(&self) -> Member {
        self.0.member.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.0.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.0.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }

    /// This host's name and epoch, its lease age, whether it leads.
    pub fn standing(&self) -> (String, u64, Duration, bool, Option<String>) {
        let member = self.member();
        let status = self.status();
        let age = if status.cut_off { status.renewed.elapsed() } else { status.lease_age };
        (member.host().to_owned(), member.epoch(), age, status.leader, status.degraded.clone())
    }

    /// Match the jobs the cluster says this host held before its restart
    /// with the local jobs the engine adopted; stop local jobs the cluster
    /// gave away meanwhile.
    async fn adopt(&self, kept: Vec<Fence>) {
        let member = self.member();
        for fence in kept {
            let job = match member.job(fence.job).await {
                Ok(job) => job,
                Err(err) => {
                    tracing::warn!(%err, job = fence.job, "cannot read a kept cluster job");
                    continue;
                }
            };
            let request = JobRequest {
                template: job.template.clone(),
                args: job.args.clone(),
                env: job.env.clone(),
                priority: Some(job.priority),
                idempotency_key: Some(fence.local_key()),
            };
            // The same key answers the local job adopted from before the
            // restart; with none (it never reached the journal), it runs now.
            match self.0.engine.submit_many(vec![request]).await {
                Ok(mut s) if !s.is_empty() => {
                    let id = s.remove(0).id;
                    self.book().runs.insert(
                        id,
                        Run { fence, memory: job.memory, started: true, claimed: Instant::now() },
                    );
                }
                other => {
                    tracing::warn!(?other, job = fence.job, "cannot take back a kept cluster job")
                }
            }
        }
        let live = self
            .0
            .engine
            .jobs(stockade_store::JobFilter {
                states: vec![JobState::Queued, JobState::Running],
                ..Default::default()
            })
            .await
            .unwrap_or_default();
        for view in live {
            if !self.book().runs.contains_key(&view.id) {
                tracing::warn!(job = %view.id, "a local job the cluster no longer gives this host: stopping it");
                let _ = self.0.engine.cancel(view.id).await;
            }
        }
        // Endings of kept jobs that happened while the daemon was down.
        self.sweep().await;
    }

    /// Start the tasks (after the API serves).
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(self.clone().beat()),
            tokio::spawn(self.clone().watchdog()),
            tokio::spawn(self.clone().claims()),
            tokio::spawn(self.clone().ends()),
        ]
    }

    async fn beat(self) {
        let config = self.0.options.config.clone();
        let mut tick = tokio::time::interval(config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.0.stop.cancelled() => return,
            }
            let member = self.member();
            let room = self.0.engine.room().await.unwrap_or_default();
            let draining = self.status().draining || room.draining;
            let headroom = Headroom {
                memory: room.memory.unwrap_or(0),
                tasks: room.tasks.unwrap_or(0),
                pools: room.pools.clone(),
            };
            let sent = Instant::now();
            // A renewal slower than stop_after is no renewal.
            let beat =
                tokio::time::timeout(config.stop_after, member.heartbeat(&headroom, draining))
                    .await;
            match beat {
                Ok(Ok(Beat::Renewed { held })) => {
                    {
                        let mut status = self.status();
                        status.renewed = sent;
                        status.lease_age = sent.elapsed();
                        status.degraded = draining.then(|| {
                            "draining: claiming nothing, running what it holds".to_owned()
                        });
                        if status.cut_off {
                            tracing::warn!("cluster lease renewed again; claiming resumes");
                            status.cut_off = false;
                        }
                    }
                    self.reconcile(&member, held, sent).await;
                    self.report_endings(&member).await;
                    self.lead(&member).await;
                }
                Ok(Ok(Beat::Fenced)) => {
                    tracing::error!(
                        epoch = member.epoch(),
                        "the cluster fenced this host's epoch (declared lost); stopping its runs and rejoining"
                    );
                    self.cut_off("the cluster declared this host lost").await;
                    self.rejoin().await;
                    // Endings held back while cut off carry the old epoch:
                    // the cluster refuses them (counted as fenced).
                    self.report_endings(&self.member()).await;
                }
                Ok(Err(err)) => self.unreachable(err.to_string()),
                Err(_) => {
                    self.unreachable(format!("a lease renewal took over {:?}", config.stop_after))
                }
            }
        }
    }

    fn unreachable(&self, why: String) {
        let mut status = self.status();
        if status.degraded.as_deref() != Some(why.as_str()) {
            tracing::warn!(%why, "cannot renew the cluster lease; runs go on until stop_after, claiming stops");
        }
        status.degraded = Some(format!("cannot renew the cluster lease: {why}"));
    }

    async fn rejoin(&self) {
        loop {
            match Member::join(self.0.options.clone()).await {
                Ok((member, joined)) => {
                    tracing::warn!(epoch = member.epoch(), "rejoined the cluster with a new epoch");
                    *self.0.member.lock().unwrap_or_else(|p| p.into_inner()) = member;
                    // A lost epoch's jobs were re-queued; nothing is kept.
                    for fence in joined.kept {
                        let _ =
                            self.member().give_back(&fence, "its host rejoined without it").await;
                    }
                    let mut status = self.status();
                    status.renewed = Instant::now();
                    status.cut_off = false;
                    status.degraded = None;
                    return;
                }
                Err(err) => {
                    self.unreachable(format!("cannot rejoin: {err}"));
                    tokio::select! {
                        () = tokio::time::sleep(self.0.options.config.heartbeat) => {}
                        () = self.0.stop.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Make this host's runs match what the cluster says it holds.
    async fn reconcile(&self, member: &Member, held: Vec<stockade_cluster::Held>, sent: Instant) {
        let mut cancel = Vec::new();
        let mut give_back = Vec::new();
        let taken: Vec<JobId> = {
            let mut book = self.book();
            let mut orphans = Vec::new();
            for h in &held {
                match book.runs.iter().find(|(_, r)| r.fence == h.fence) {
                    Some((local, _)) if h.cancel => cancel.push(*local),
                    Some(_) => {}
                    None if book.knows(&h.fence) => {}
                    // Held, but no run here (stopped when cut off): back to
                    // the queue once two beats agree.
                    None if book.orphans.contains(&h.fence) => give_back.push(h.fence.clone()),
                    None => orphans.push(h.fence.clone()),
                }
            }
            book.orphans = orphans;
            let taken: Vec<JobId> = book
                .runs
                .iter()
                .filter(|(_, run)| run.claimed < sent && !held.iter().any(|h| h.fence == run.fence))
                .map(|(id, _)| *id)
                .collect();
            for id in &taken {
                book.runs.remove(id);
            }
            taken
        };
        for id in taken {
            self.0.counters.fenced.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = %id, "a cluster job was taken from this host: stopping its local run, reporting nothing");
            let _ = self.0.engine.cancel(id).await;
        }
        for id in cancel {
            let _ = self.0.engine.cancel(id).await;
        }
        for fence in give_back {
            let _ = member
                .give_back(&fence, "its host had stopped the run when it lost its lease")
                .await;
        }
    }

    async fn lead(&self, member: &Member) {
        let leader = member.lead().await.unwrap_or(false);
        self.status().leader = leader;
        if !leader {
            return;
        }
        match member.rescue().await {
            Ok(rescue) => {
                self.0.counters.rescued.fetch_add(rescue.requeued.len() as u64, Ordering::Relaxed);
            }
            Err(err) => tracing::warn!(%err, "rescue failed"),
        }
        if let Ok(expired) = member.expire().await {
            self.0.counters.expired.fetch_add(expired.len() as u64, Ordering::Relaxed);
        }
        if let Err(err) = self.schedules(member).await {
            tracing::warn!(%err, "cluster schedules failed");
        }
    }

    /// The leader fires the spec's schedules, each slot once cluster-wide:
    /// the slot and its job are written in one transaction, and a slot at or
    /// before the recorded one never fires again (a second leader racing the
    /// first queues nothing). A slot is on time when it came within two
    /// heartbeats; older ones were missed (no leader, every member down) and
    /// follow `catch_up`; `overlap = "skip"` skips a slot while a job of the
    /// template is waiting or running (`queue` and `allow` both queue it:
    /// the pool orders it behind the live one).
    async fn schedules(&self, member: &Member) -> Result<(), ClusterError> {
        let spec = self.0.reloader.spec();
        let now = stockade_proto::now_millis();
        let fresh = (self.0.options.config.heartbeat * 2).as_millis() as u64;
        for template in spec.jobs.values() {
            let Some(schedule) = &template.schedule else { continue };
            let Some(latest) = schedule.last_at_or_before(now) else { continue };
            let last = member.last_slot(&template.name).await?;
            if last.is_some_and(|l| l >= latest) {
                continue;
            }
            // Late: missed while no member led. `catch_up = "one"` runs the
            // newest missed slot; a schedule never fired before has nothing
            // to catch up.
            let on_time = now.saturating_sub(latest) <= fresh;
            let catch_up = last.is_some() && schedule.catch_up == stockade_spec::CatchUp::One;
            let mut fire = on_time || catch_up;
            if fire
                && schedule.overlap == stockade_spec::Overlap::Skip
                && member.live_job_of(&template.name).await?.is_some()
            {
                fire = false;
            }
            if !fire {
                member.record_slot(&template.name, latest).await?;
                continue;
            }
            let request = JobRequest {
                template: template.name.clone(),
                args: schedule.args.clone(),
                env: Default::default(),
                priority: None,
                idempotency_key: None,
            };
            let Ok(mut job) = template_job(&spec, &request) else { continue };
            job.source = JobSource::Schedule;
            if let Some(id) = member.fire_schedule(latest, &job).await? {
                tracing::info!(template = %template.name, slot = latest, job = id, "schedule fired cluster-wide");
            }
        }
        Ok(())
    }

    async fn watchdog(self) {
        let stop_after = self.0.options.config.stop_after;
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = self.0.stop.cancelled() => return,
            }
            let overdue = {
                let status = self.status();
                !status.cut_off && status.renewed.elapsed() >= stop_after
            };
            if overdue {
                self.cut_off(&format!(
                    "its cluster lease was not renewed for {stop_after:?} (stop_after)"
                ))
                .await;
            }
        }
    }

    /// Stop every cluster run here, report none, claim nothing until renewed.
    async fn cut_off(&self, why: &str) {
        let runs: Vec<JobId> = self.book().runs.drain().map(|(id, _)| id).collect();
        {
            let mut status = self.status();
            status.cut_off = true;
            status.degraded = Some(format!(
                "{why}: stopped {} run(s) before another host may take them; claiming nothing",
                runs.len()
            ));
        }
        self.0.counters.self_fences.fetch_add(1, Ordering::Relaxed);
        tracing::error!(runs = runs.len(), %why, "self-fenced: stopping this host's cluster runs");
        for id in runs {
            let _ = self.0.engine.cancel(id).await;
        }
    }

    async fn claims(self) {
        let mut wakes = stockade_cluster::listen(&self.0.options.config);
        let poll = self.0.options.config.poll;
        loop {
            tokio::select! {
                () = self.0.wake.notified() => {}
                w = wakes.recv() => {
                    if let Some(stockade_cluster::Wake::Control(_)) = w {
                        // A cancel or a host change: the next beat reconciles.
                    }
                }
                () = tokio::time::sleep(poll) => {}
                () = self.0.stop.cancelled() => return,
            }
            if self.status().degraded.is_some() || self.status().cut_off {
                continue;
            }
            match self.claim_once().await {
                Ok(n) if n > 0 => self.0.wake.notify_one(),
                Ok(_) => {}
                Err(err) if err.is_unreachable() => self.unreachable(err.to_string()),
                Err(err) => tracing::warn!(%err, "claim failed"),
            }
        }
    }

    async fn claim_once(&self) -> Result<usize, ClusterError> {
        let room = match self.0.engine.room().await {
            Ok(room) if !room.draining => room,
            _ => return Ok(0),
        };
        let member = self.member();
        // Claimed runs not started yet are not in the ledger's holds.
        let pending: u64 = self.book().runs.values().filter(|r| !r.started).map(|r| r.memory).sum();
        let memory = room.memory.map_or(u64::MAX / 2, |m| m.saturating_sub(pending));
        let budget = Budget {
            max: room.pools.values().sum(),
            pools: room.pools,
            memory,
            tasks: room.tasks.unwrap_or(u64::MAX / 2),
        };
        let claimed = member.claim(&budget).await?;
        self.book().claiming.extend(claimed.iter().map(|c| c.fence.clone()));
        let n = claimed.len();
        for c in claimed {
            self.0.counters.claims.fetch_add(1, Ordering::Relaxed);
            let request = JobRequest {
                template: c.job.template.clone(),
                args: c.job.args.clone(),
                env: c.job.env.clone(),
                priority: Some(c.job.priority),
                idempotency_key: Some(c.fence.local_key()),
            };
            let submitted = self.0.engine.submit_many(vec![request]).await;
            let cut_off = self.status().cut_off;
            let local = submitted.as_ref().ok().and_then(|s| s.first()).map(|s| s.id);
            {
                let mut book = self.book();
                book.claiming.retain(|f| f != &c.fence);
                if let Some(id) = local
                    && !cut_off
                {
                    let run = Run {
                        fence: c.fence.clone(),
                        memory: c.job.memory,
                        started: false,
                        claimed: Instant::now(),
                    };
                    book.runs.insert(id, run);
                }
            }
            match (submitted, local) {
                // Cut off while submitting: stop it like the rest.
                (Ok(_), Some(id)) if cut_off => {
                    let _ = self.0.engine.cancel(id).await;
                }
                (Ok(_), Some(id)) => {
                    let _ = member.attach_local(&c.fence, id.0).await;
                }
                (Ok(_), None) => {}
                (Err(err), _) => {
                    // This host cannot run it (its spec lacks the template,
                    // it is stopping): give it back for another host.
                    tracing::warn!(%err, job = c.job.id, "cannot run a claimed cluster job here; giving it back");
                    let _ = member
                        .give_back(
                            &c.fence,
                            &format!("host {} could not run it: {err}", member.host()),
                        )
                        .await;
                }
            }
        }
        Ok(n)
    }

    async fn ends(self) {
        let mut events = self.0.engine.subscribe();
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                () = self.0.stop.cancelled() => return,
            };
            match event {
                Ok(event) => match event.kind {
                    EventKind::JobState { job, state, .. } if state.is_terminal() => {
                        self.ended(job).await
                    }
                    EventKind::JobState { job, state: JobState::Running, .. } => {
                        if let Some(run) = self.book().runs.get_mut(&job) {
                            run.started = true;
                        }
                    }
                    _ => {}
                },
                Err(RecvError::Lagged(_)) => self.sweep().await,
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Report every local ending the event stream may have missed.
    async fn sweep(&self) {
        let ids: Vec<JobId> = self.book().runs.keys().copied().collect();
        for id in ids {
            if self.local_view(id).await.is_some_and(|v| v.state.is_terminal()) {
                self.ended(id).await;
            }
        }
    }

    /// A local job as it stands: live from the engine, ended from the store.
    async fn local_view(&self, id: JobId) -> Option<stockade_proto::JobView> {
        match self.0.engine.job(id).await {
            Ok(view) => Some(view),
            Err(EngineError::UnknownJob { .. }) => {
                let store = self.0.store.clone();
                let record =
                    tokio::task::spawn_blocking(move || store.job(id)).await.ok()?.ok()??;
                Some(stockade_engine::job_view_from_record(&record))
            }
            Err(_) => None,
        }
    }

    async fn ended(&self, id: JobId) {
        if !self.book().runs.contains_key(&id) {
            return;
        }
        let Some(view) = self.local_view(id).await.filter(|v| v.state.is_terminal()) else {
            return;
        };
        let end =
            End { state: view.state, cause: view.cause, reason: view.reason, local_id: Some(id.0) };
        {
            let mut book = self.book();
            // Taken away or cut off meanwhile: nothing to report.
            let Some(run) = book.runs.remove(&id) else { return };
            book.ending.push((id, run.fence, end, false));
        }
        self.report_endings(&self.member()).await;
        self.0.wake.notify_one();
    }

    /// Send every ending not yet taken; keep those the database could not.
    async fn report_endings(&self, member: &Member) {
        // Each ending is sent by one caller at a time: a second report of
        // the same claim would be refused and counted as fenced.
        let pending: Vec<(JobId, Fence, End)> = {
            let mut book = self.book();
            book.ending
                .iter_mut()
                .filter(|(_, _, _, sending)| !*sending)
                .map(|(id, fence, end, sending)| {
                    *sending = true;
                    (*id, fence.clone(), end.clone())
                })
                .collect()
        };
        for (id, fence, end) in pending {
            let done = match member.complete(&fence, &end).await {
                Ok(Completion::Accepted) => {
                    self.0.counters.completions.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Ok(Completion::Fenced) => {
                    self.0.counters.fenced.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = fence.job, local = %id, "the cluster refused a completion: the job was no longer this host's");
                    true
                }
                Err(err) => {
                    tracing::warn!(%err, job = fence.job, "cannot report a cluster job's end yet; retrying");
                    false
                }
            };
            let mut book = self.book();
            if done {
                book.ending.retain(|(_, f, _, _)| f != &fence);
            } else if let Some(entry) = book.ending.iter_mut().find(|(_, f, _, _)| f == &fence) {
                entry.3 = false;
            }
        }
    }

    /// Queue API submissions cluster-wide.
    pub async fn submit(
        &self,
        requests: &[JobRequest],
    ) -> Result<Vec<(stockade_cluster::ClusterJob, bool)>, crate::api::Failure> {
        let spec = self.0.reloader.spec();
        let jobs =
            requests.iter().map(|r| template_job(&spec, r)).collect::<Result<Vec<_>, _>>()?;
        let answers = self.member().submit(&jobs).await.map_err(failure)?;
        // This member may have room itself: look now, not at the NOTIFY.
        self.0.wake.notify_one();
        Ok(answers)
    }

    /// The membership handle, for reads.
    pub fn reader(&self) -> Member {
        self.member()
    }

    /// The cluster as this member sees it.
    pub async fn view(&self) -> Result<stockade_proto::ClusterView, crate::api::Failure> {
        let degraded = self.status().degraded.clone();
        self.member().view(degraded).await.map_err(failure)
    }

    /// Stop (or resume) claiming.
    pub async fn drain(&self, draining: bool) -> Result<(), crate::api::Failure> {
        self.status().draining = draining;
        self.member().set_draining(draining).await.map_err(failure)
    }

    /// A clean stop: give back every job held (another host takes it at
    /// once), then leave. `keep_runs` (an upgrade): leave them running and
    /// held, for the next daemon on this state dir to take back.
    pub async fn leave(&self, keep_runs: bool) {
        self.0.stop.cancel();
        let member = self.member();
        if keep_runs {
            return;
        }
        let runs: Vec<Run> = self.book().runs.drain().map(|(_, r)| r).collect();
        for run in runs {
            let _ = member.give_back(&run.fence, &format!("host {} stopped", member.host())).await;
        }
        if let Err(err) = member.leave().await {
            tracing::warn!(%err, "could not say goodbye to the cluster");
        }
    }
}

/// An API failure for a cluster error.
pub fn failure(err: ClusterError) -> crate::api::Failure {
    use axum::http::StatusCode;
    let (status, code, hint) = match &err {
        ClusterError::Unreachable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unreachable",
            "the cluster database is away: this host keeps running what it holds; try again shortly".to_owned(),
        ),
        ClusterError::QueueFull { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            "wait for the queue to drain, or raise the pool's max_queued".to_owned(),
        ),
        ClusterError::UnknownJob(_) => {
            (StatusCode::NOT_FOUND, "unknown_job", "list jobs with `stockade ps`".to_owned())
        }
        ClusterError::AlreadyFinished { .. } => {
            (StatusCode::CONFLICT, "already_finished", "nothing to cancel".to_owned())
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "cluster_error", "see the daemon's log".to_owned()),
    };
    crate::api::Failure::new(status, code, err.to_string(), hint)
}
