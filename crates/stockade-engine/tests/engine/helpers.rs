use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use stockade_engine::{EngineConfig, EngineHandle, RecordingLauncher};
use stockade_proto::{Event, HostSnapshot};
use stockade_spec::Spec;
use stockade_store::{Store, StoreOptions};
use tokio::sync::broadcast;

pub struct Harness {
    pub handle: EngineHandle,
    pub launcher: RecordingLauncher,
    pub store: Store,
    pub events: broadcast::Receiver<Event>,
    pub task: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
    /// Feeds fake host readings to the engine.
    pub host: tokio::sync::mpsc::UnboundedSender<stockade_engine::engine::HostSample>,
}

pub fn spec(dir: &Path, toml: &str) -> Spec {
    let path = dir.join("stockade.toml");
    Spec::parse(toml, &path, &|_| None)
        .unwrap_or_else(|e| panic!("test spec invalid:\n{}", e.render()))
}

pub fn start(toml: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
    start_with(toml, dir, store, RecordingLauncher::new())
}

pub fn start_with(
    toml: &str,
    dir: tempfile::TempDir,
    store: Store,
    launcher: RecordingLauncher,
) -> Harness {
    let spec = spec(dir.path(), toml);
    let (host, samples) = tokio::sync::mpsc::unbounded_channel();
    let config = EngineConfig {
        spec: Arc::new(spec),
        store: store.clone(),
        launcher: Box::new(launcher.clone()),
        sandbox: "fake".into(),
        sandbox_warnings: vec![],
        host_snapshot: Arc::new(HostSnapshot::default),
        host_samples: Some(samples),
    };
    let (handle, task) = stockade_engine::start(config).unwrap();
    let events = handle.subscribe();
    Harness { handle, launcher, store, events, task, dir, host }
}

/// One step of waiting. Virtual time moves 5 ms (so engine timers progress when
/// the clock is paused), and real time moves a little too: the store's writer
/// thread lives in real time, and a paused runtime would otherwise auto-advance
/// its clock while waiting for it. The 300 µs real sleep is the one real-time
/// pause of the engine tests, and deliberate: it is the writer thread's turn,
/// not a wait for anything to happen "by then".
async fn step() {
    tokio::time::sleep(Duration::from_millis(5)).await;
    std::thread::sleep(Duration::from_micros(300));
}

/// Poll `check` until it returns `Some`; fail after `limit` of real time.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        step().await;
    }
}

/// Wait until `n` launches have been recorded; return them all.
pub async fn launches(h: &Harness, n: usize) -> Vec<stockade_engine::LaunchRequest> {
    let launcher = h.launcher.clone();
    wait_for(&format!("{n} launches"), Duration::from_secs(30), || {
        let all = launcher.launches();
        async move { (all.len() >= n).then_some(all) }
    })
    .await
}

/// Wait for a committed event matching `pred`.
pub async fn event(h: &mut Harness, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match h.events.try_recv() {
            Ok(e) if pred(&e) => return e,
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(broadcast::error::TryRecvError::Empty) => {}
            Err(e) => panic!("event stream ended: {e}"),
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out waiting for event: {what}");
        }
        step().await;
    }
}
