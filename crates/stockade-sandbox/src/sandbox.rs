//! [`Sandbox`]: the backend chosen at start, the spawner thread, and the
//! entry points the engine calls — spawn an agent into a fresh box, and find
//! or clear leftover boxes after a daemon restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::{Agent, AgentParts, remove_retrying};
use crate::backend::none::NoCgroups;
use crate::backend::v1::V1;
use crate::backend::v2::V2;
use crate::backend::{Backend, Cgroup, Counters};
use crate::detect::{Layout, detect};
use crate::main_proc::MainProc;
use crate::name::BoxName;
use crate::offload::offload;
use crate::oom_watch::OomWatch;
use crate::rlimit::RlimitPlan;
use crate::spawn::{PreExec, SpawnSpec, classify_spawn_error, command, resolve_program};
use crate::spawner::Spawner;
use crate::walls::exec::{BoxEntry, Registration, Registry};
use crate::walls::process::WalledChild;
use crate::walls::{BoxHold, WallsKit, clone, exec_start, launch_error, start};
use crate::{
    BackendChoice, BackendKind, ExecProcess, ExecSpec, SandboxConfig, SandboxError, SpawnError,
    Walls,
};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use stockade_linux::{TaskFacts, Use};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

/// The box factory. Cheap to clone; all clones share one backend and one
/// spawner thread, which ends when the last clone is dropped.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Box<dyn Backend>,
    warnings: Vec<String>,
    spawner: Spawner,
    pub(crate) config: SandboxConfig,
    /// What walled spawns need, or why this host cannot make walls.
    pub(crate) walls: Result<WallsKit, String>,
    registry: Registry,
    /// The init image run as an unwalled box's log relay, or why it cannot be.
    relay: Result<crate::walls::init::InitImage, String>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("kind", &self.kind())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Sandbox {
    /// Detect the backend, create stockade's parent cgroup(s) and start the
    /// spawner thread. Must be called inside a tokio runtime.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| SandboxError::NoRuntime)?;
        let (backend, mut warnings) = choose(&config)?;
        let walls = WallsKit::new(config.id_range, &mut warnings).map_err(|err| {
            let why = err.to_string();
            warnings.push(format!("walled boxes cannot be made on this host: {why}"));
            why
        });
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let spawner = Spawner::start(handle)?;
        let registry = Registry::default();
        let relay = crate::walls::init::InitImage::load().map_err(|err| {
            let why = err.to_string();
            tracing::warn!("unwalled boxes log untagged output (no relay): {why}");
            why
        });
        Ok(Sandbox {
            inner: Arc::new(Inner { backend, warnings, spawner, config, walls, registry, relay }),
        })
    }

    /// The backend in use.
    pub fn kind(&self) -> BackendKind {
        self.inner.backend.kind()
    }

    /// What is missing on this host and what that costs (always non-empty for the none backend).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Create the box, spawn `spec.argv` on the spawner thread with the child
    /// joining the box before exec, and return the running agent. On error no
    /// box is left behind. Cancel-safe: if the caller stops waiting, the
    /// agent is killed and its box removed.
    pub async fn spawn(&self, spec: SpawnSpec) -> Result<Agent, SpawnError> {
        let this = self.clone();
        let box_name = spec.box_name.clone();
        // Run to completion even if our caller is cancelled, so a child that
        // was already forked is owned by an Agent whose drop cleans up.
        tokio::spawn(async move { this.spawn_inner(spec).await }).await.unwrap_or_else(|join| {
            Err(SpawnError::Box { box_name, source: SandboxError::SpawnerGone(join.to_string()) })
        })
    }

    async fn spawn_inner(&self, spec: SpawnSpec) -> Result<Agent, SpawnError> {
        if spec.walls.is_some() {
            return self.spawn_walled(spec).await;
        }
        let boxed = |source| SpawnError::Box { box_name: spec.box_name.clone(), source };
        let name = BoxName::parse(&spec.box_name).map_err(boxed)?;
        crate::limits::validate(&spec.limits).map_err(boxed)?;
        let program = resolve_program(&spec)?;
        let (cgroup, prepared) = self.create_box(&name, &spec.limits).await.map_err(boxed)?;
        let (join, oom) = match prepared {
            Ok(ok) => ok,
            Err(err) => return Err(self.abandon(&cgroup, boxed(err)).await),
        };
        // The box is new (create refuses an existing one), so every event
        // counter starts at zero: no baseline read on the spawn path.
        let baseline = Counters::default();
        let pre = PreExec {
            join,
            rlimits: RlimitPlan::for_limits(&spec.limits),
            parent_death: spec.parent_death,
        };
        let (relay, stdio) = match (&spec.output, &self.inner.relay) {
            (Some(output), Ok(image)) => match crate::relay::start(image, output) {
                Ok((relay, out, err)) => (Some(relay), Some((out, err))),
                Err(err) => {
                    tracing::warn!(box_name = %spec.box_name, "no log relay ({err}): this run's output is logged untagged");
                    (None, None)
                }
            },
            _ => (None, None),
        };
        let cmd = command(&spec, &program, pre, stdio);
        let child = match self.inner.spawner.spawn(cmd).await {
            Ok(Ok(child)) => child,
            Ok(Err(source)) => {
                let (kind, mut hint) = classify_spawn_error(&source, &program);
                if source.raw_os_error() == Some(libc::EAGAIN) {
                    hint = self.eagain_hint(cgroup.as_ref());
                }
                let program = program.display().to_string();
                let err = SpawnError::Exec {
                    box_name: spec.box_name.clone(),
                    program,
                    kind,
                    hint,
                    source,
                };
                return Err(self.abandon(&cgroup, err).await);
            }
            Err(err) => return Err(self.abandon(&cgroup, boxed(err)).await),
        };
        Ok(Agent::new(AgentParts {
            child: MainProc::Plain(child),
            box_name: spec.box_name,
            cgroup,
            oom,
            baseline,
            limits: spec.limits,
            walls: None,
            relay,
        }))
    }

    /// Create the box, then open what the child joins it by and its OOM
    /// watch — on the blocking pool (`offload`): `mkdir` in every hierarchy
    /// and the limit writes take the kernel's cgroup lock.
    #[allow(clippy::type_complexity)]
    async fn create_box(
        &self,
        name: &BoxName,
        limits: &stockade_proto::Limits,
    ) -> Result<
        (Arc<dyn Cgroup>, Result<(Vec<std::os::fd::OwnedFd>, OomWatch), SandboxError>),
        SandboxError,
    > {
        let (this, name, limits) = (self.clone(), name.clone(), limits.clone());
        offload(move || {
            let cgroup = this.inner.backend.create(&name, &limits)?;
            let prepared = cgroup.join_fds().and_then(|join| Ok((join, cgroup.oom_watch()?)));
            Ok((cgroup, prepared))
        })
        .await
    }

    /// The EAGAIN hint for a box: which limit bound, from the one explainer
    /// (`stockade_linux::eagain`), read at the moment of the failure.
    fn eagain_hint(&self, cgroup: &dyn Cgroup) -> String {
        let c = cgroup.counters();
        let box_pids = c.pids_current.zip(c.pids_limit).map(|(used, limit)| Use { used, limit });
        TaskFacts::gather(&self.inner.config.proc_root, box_pids).hint()
    }

    /// A walled spawn: check against the box root, create the box, clone
    /// the init into its namespaces on the spawner thread.
    async fn spawn_walled(&self, spec: SpawnSpec) -> Result<Agent, SpawnError> {
        let boxed = |source| SpawnError::Box { box_name: spec.box_name.clone(), source };
        let name = BoxName::parse(&spec.box_name).map_err(boxed)?;
        crate::limits::validate(&spec.limits).map_err(boxed)?;
        resolve_program(&spec)?;
        let kit = self.inner.walls.as_ref().map_err(|why| {
            boxed(SandboxError::BackendUnavailable {
                wanted: "walls",
                reason: why.clone(),
                hint: "run `stockade doctor`; or run the unit with isolation = \"none\"",
            })
        })?;
        let walls = spec.walls.clone().unwrap_or_else(|| Walls::new("/nonexistent"));
        let checked = start::check(&spec, &walls, kit)?;
        let slot = kit.ids.allocate().ok_or_else(|| {
            boxed(SandboxError::InvalidLimit {
                field: "id_range",
                value: format!("{} slots", self.inner.config.id_range.slots()),
                hint: "every id slot is in use: widen [daemon] id_range or run fewer walled boxes",
            })
        })?;
        let (cgroup, prepared) = self.create_box(&name, &spec.limits).await.map_err(boxed)?;
        let (join, oom) = match prepared {
            Ok(ok) => ok,
            Err(err) => return Err(self.abandon(&cgroup, boxed(err)).await),
        };
        let (launch, ends) = match start::prepare(&spec, &checked, kit, slot.base(), join) {
            Ok(ready) => ready,
            Err(err) => return Err(self.abandon(&cgroup, err).await),
        };
        let launched = match self.inner.spawner.run(move || clone::launch(launch)).await {
            Ok(Ok(launched)) => launched,
            Ok(Err(err)) => {
                let err = launch_error::spawn_error(&spec.box_name, &checked.program, err, || {
                    self.eagain_hint(cgroup.as_ref())
                });
                return Err(self.abandon(&cgroup, err).await);
            }
            Err(err) => return Err(self.abandon(&cgroup, boxed(err)).await),
        };
        let pid = launched.pid;
        let entry_pidfd = Arc::new(launched.pidfd);
        let main =
            WalledChild::shared(pid, entry_pidfd.clone(), Some(ends.record)).and_then(|init| {
                let stdout = ends
                    .stdout
                    .map(|fd| ChildStdout::from_std(std::process::ChildStdout::from(fd)))
                    .transpose()?;
                let stderr = ends
                    .stderr
                    .map(|fd| ChildStderr::from_std(std::process::ChildStderr::from(fd)))
                    .transpose()?;
                Ok(MainProc::Walled { init, stdout, stderr })
            });
        let main = match main {
            Ok(main) => main,
            Err(e) => {
                let err = boxed(SandboxError::io(
                    "watch the init of",
                    format!("box {}", spec.box_name),
                    e,
                ));
                let err = self.abandon(&cgroup, err).await;
                // The killed init is our child: reap it.
                clone::reap(&entry_pidfd);
                return Err(err);
            }
        };
        let cwd = spec.cwd.clone().unwrap_or_else(|| PathBuf::from("/workspace"));
        let entry = BoxEntry {
            pidfd: entry_pidfd,
            box_name: spec.box_name.clone(),
            checked,
            env: spec.env.clone(),
            cwd,
            limits: spec.limits.clone(),
        };
        self.inner.registry.lock().unwrap_or_else(|p| p.into_inner()).insert(pid, Arc::new(entry));
        let registration = Registration { registry: self.inner.registry.clone(), pid };
        Ok(Agent::new(AgentParts {
            child: main,
            box_name: spec.box_name,
            cgroup,
            oom,
            baseline: Counters::default(),
            limits: spec.limits,
            walls: Some(BoxHold { _slot: slot, _registration: registration }),
            relay: None,
        }))
    }

    /// Run a command inside the running walled box whose init is `spec.pid`
    /// ([`Agent::pid`]): the box's namespaces, cgroups, user, capabilities,
    /// `no_new_privs`, seccomp filter and environment (plus `spec.env`). It
    /// dies with the box. Only boxes this sandbox spawned are reachable: the
    /// pid is looked up in its registry (which holds a pidfd from the spawn)
    /// and must still sit in that box's cgroup.
    pub async fn exec(&self, spec: ExecSpec) -> Result<ExecProcess, SpawnError> {
        let stranger = |reason: String| SpawnError::InvalidSpec {
            box_name: format!("pid {}", spec.pid),
            reason,
            hint: "pass Agent::pid() of a running walled box of this daemon".into(),
        };
        let entry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&spec.pid)
            .cloned()
            .ok_or_else(|| {
                stranger(format!(
                    "pid {} is not the init of a walled box of this sandbox",
                    spec.pid
                ))
            })?;
        let boxed = |source| SpawnError::Box { box_name: entry.box_name.clone(), source };
        if crate::walls::sys::pidfd_send_signal(entry.pidfd.as_raw_fd(), 0).is_err() {
            return Err(stranger(format!("the box {} has ended", entry.box_name)));
        }
        let kit = self.inner.walls.as_ref().map_err(|why| stranger(why.clone()))?;
        let cgroup = match self.kind() {
            BackendKind::None => None,
            _ => {
                if !crate::walls::exec::in_box(spec.pid, &self.inner.config.parent, &entry.box_name)
                {
                    return Err(stranger(format!(
                        "pid {} is no longer in the cgroup of box {}",
                        spec.pid, entry.box_name
                    )));
                }
                let name = BoxName::parse(&entry.box_name).map_err(boxed)?;
                self.inner.backend.open(&name)
            }
        };
        let join = match &cgroup {
            Some(c) => c.join_fds().map_err(boxed)?,
            None => Vec::new(),
        };
        let (launch, ends) = exec_start::prepare(&entry, &spec, kit, join)?;
        let program = PathBuf::from(&spec.argv[0]);
        let launched = match self.inner.spawner.run(move || clone::launch(launch)).await {
            Ok(Ok(launched)) => launched,
            Ok(Err(err)) => {
                return Err(launch_error::spawn_error(&entry.box_name, &program, err, || {
                    match &cgroup {
                        Some(c) => self.eagain_hint(c.as_ref()),
                        None => String::new(),
                    }
                }));
            }
            Err(err) => return Err(boxed(err)),
        };
        let io_err =
            |e| boxed(SandboxError::io("watch the exec in", format!("box {}", entry.box_name), e));
        let relay =
            WalledChild::new(launched.pid, launched.pidfd, Some(ends.record)).map_err(io_err)?;
        let wrap = || -> std::io::Result<ExecProcess> {
            let pty_raw = ends.pty.as_ref().map(|fd| fd.as_raw_fd());
            Ok(ExecProcess {
                relay,
                stdin: ends
                    .stdin
                    .map(|fd| ChildStdin::from_std(std::process::ChildStdin::from(fd)))
                    .transpose()?,
                stdout: ends
                    .stdout
                    .map(|fd| ChildStdout::from_std(std::process::ChildStdout::from(fd)))
                    .transpose()?,
                stderr: ends
                    .stderr
                    .map(|fd| ChildStderr::from_std(std::process::ChildStderr::from(fd)))
                    .transpose()?,
                pty: ends.pty.map(crate::walls::exec::pty_master).transpose()?,
                pty_raw,
            })
        };
        wrap().map_err(io_err)
    }

    /// Remove a box whose spawn failed, keeping the spawn error.
    async fn abandon(&self, cgroup: &Arc<dyn Cgroup>, err: SpawnError) -> SpawnError {
        let _ = crate::agent::kill_until_empty(cgroup, "").await;
        if let Err(remove) = remove_retrying(cgroup).await {
            tracing::error!(%remove, "could not remove the box of a failed spawn");
        }
        err
    }

    /// Kill everything in a leftover box and remove it (daemon recovery).
    /// Blocks for up to a few seconds: call it at startup or from
    /// `spawn_blocking`. A box that does not exist is not an error.
    pub fn remove_stale(&self, box_name: &str) -> Result<(), SandboxError> {
        let name = BoxName::parse(box_name)?;
        let Some(cgroup) = self.inner.backend.open(&name) else { return Ok(()) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(500);
        loop {
            let left = match cgroup.kill_pass().and_then(|_| cgroup.procs()) {
                Ok(p) => p.len(),
                Err(err) if err.is_not_found() => return Ok(()),
                Err(err) => return Err(err),
            };
            let removed = if left == 0 { cgroup.remove() } else { Ok(()) };
            match removed {
                Ok(()) if left == 0 => return Ok(()),
                Err(SandboxError::Io { ref source, .. })
                    if source.raw_os_error() == Some(libc::EBUSY) => {}
                Err(err) => return Err(err),
                Ok(()) => {}
            }
            if Instant::now() >= deadline {
                return Err(SandboxError::NotEmpty { name: box_name.to_string(), count: left });
            }
            // A blocking pause, by design: the daemon calls this only from
            // the engine's recovery, which it runs on the blocking pool.
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    /// Kill every process in every box under this sandbox's parent and
    /// remove the parent itself, in every hierarchy. For tests and
    /// uninstalling; a daemon keeps its parent across restarts. Blocks while
    /// killed processes are reaped; outstanding [`Agent`]s see their box vanish.
    pub fn remove_subtree(&self) -> Result<(), SandboxError> {
        for dir in self.inner.backend.parent_dirs() {
            crate::backend::subtree::remove_tree(&dir)?;
        }
        Ok(())
    }

    /// Remove the parent directories this sandbox created, in every
    /// hierarchy, if they are empty — what a daemon does when it exits
    /// cleanly. Unlike [`Sandbox::remove_subtree`] it kills nothing: a parent
    /// that still holds boxes (another daemon's, or runs that outlive this
    /// one) is left alone and `Ok(false)` says so.
    pub fn release(&self) -> Result<bool, SandboxError> {
        let mut all = true;
        for dir in self.inner.backend.parent_dirs() {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY)) => {
                    all = false;
                }
                Err(e) => return Err(SandboxError::io("remove", &dir, e)),
            }
        }
        Ok(all)
    }

    /// Whether box `box_name` may still be running: a walled box of this
    /// sandbox whose agent has not been finished, or any process in the
    /// box's cgroup. A name that is not a valid box name counts as live, so
    /// a caller that removes what is not live (workspace retention) leaves
    /// what it cannot judge alone.
    pub fn is_live(&self, box_name: &str) -> bool {
        let registry = self.inner.registry.lock().unwrap_or_else(|p| p.into_inner());
        if registry.values().any(|entry| entry.box_name == box_name) {
            return true;
        }
        drop(registry);
        self.live_pids(box_name).map_or(true, |pids| !pids.is_empty())
    }

    /// The pids in a box (daemon recovery): empty when the box is gone or
    /// empty. Always empty on the none backend, which keeps no trace by name.
    pub fn live_pids(&self, box_name: &str) -> Result<Vec<u32>, SandboxError> {
        let name = BoxName::parse(box_name)?;
        match self.inner.backend.open(&name) {
            None => Ok(Vec::new()),
            Some(cgroup) => match cgroup.procs() {
                Err(err) if err.is_not_found() => Ok(Vec::new()),
                other => other,
            },
        }
    }
}

/// Pick the backend per the configuration; `Auto` falls back to none with a
/// warning that says why each cgroup backend was not usable.
fn choose(config: &SandboxConfig) -> Result<(Box<dyn Backend>, Vec<String>), SandboxError> {
    let layout = || detect(&config.cgroup_root, &config.proc_root);
    let v2 = |layout: &Layout| match &layout.v2 {
        Some(h) => V2::new(h, &config.parent).map(|(b, w)| (Box::new(b) as Box<dyn Backend>, w)),
        None => Err(SandboxError::BackendUnavailable {
            wanted: "cgroup v2",
            reason: format!("no cgroup2 mount under {}", config.cgroup_root.display()),
            hint: "mount cgroup2 or choose another backend",
        }),
    };
    let v1 = |layout: &Layout| {
        V1::new(&layout.v1, &config.parent, &config.proc_root)
            .map(|(b, w)| (Box::new(b) as Box<dyn Backend>, w))
    };
    let none = |reason: String| {
        (Box::new(NoCgroups) as Box<dyn Backend>, vec![NoCgroups::warning(&reason)])
    };
    match config.mode {
        BackendChoice::None => Ok(none("the none backend was chosen in the configuration".into())),
        BackendChoice::V2 => v2(&layout()?),
        BackendChoice::V1 => v1(&layout()?),
        BackendChoice::Auto => {
            let layout = match layout() {
                Ok(layout) => layout,
                Err(err) => return Ok(none(err.to_string())),
            };
            let v2_has_controllers =
                layout.v2.as_ref().is_some_and(|h| h.has("memory") && h.has("pids"));
            let mut reasons = Vec::new();
            if v2_has_controllers {
                match v2(&layout) {
                    Ok(found) => return Ok(found),
                    Err(err) => reasons.push(err.to_string()),
                }
            }
            match v1(&layout) {
                Ok(found) => return Ok(found),
                Err(err) => reasons.push(err.to_string()),
            }
            Ok(none(reasons.join("; ")))
        }
    }
}
