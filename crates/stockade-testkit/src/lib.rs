//! Test helpers shared by the end-to-end tests: [`TestDaemon`] runs the real
//! daemon (`stockade_daemon::run`) in-process on a real Unix socket, with a
//! tempdir state directory and a cgroup parent of its own, so tests run in
//! parallel and every box they make is removed even when a test fails.
//! [`Api`] is a small HTTP client over that socket; [`wait_until`] polls a
//! condition with a deadline instead of sleeping.

#![deny(missing_docs)]

mod api;
mod daemon;

pub use api::{Api, Reply};
pub use daemon::TestDaemon;

use std::future::Future;
use std::time::Duration;

/// Poll `check` every 20 ms until it returns `Some`, or panic after `limit`.
pub async fn wait_until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether this process may create cgroups: try to make (and remove) one
/// in a v1 `pids` hierarchy or the v2 tree, where the daemon would.
/// Tests that need real boxes print why they skip when it cannot.
pub fn can_make_boxes() -> bool {
    let probe = format!("stockade-probe-{}", std::process::id());
    ["pids", ""].iter().any(|controller| {
        let Some(dir) = stockade_sandbox::own_cgroup_dir(controller).map(|d| d.join(&probe)) else {
            return false;
        };
        let made = std::fs::create_dir(&dir).is_ok();
        if made {
            let _ = std::fs::remove_dir(&dir);
        }
        made
    })
}
