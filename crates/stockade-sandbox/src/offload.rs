//! [`offload`]: cgroupfs work on tokio's blocking pool.
//!
//! Creating a box (`mkdir` in every hierarchy, limit writes), killing one
//! (freezer writes) and removing it (`rmdir`) take the kernel's global
//! cgroup lock, which any other process on the host may hold for
//! milliseconds (measured: a 12–18 ms `mkdir`/`rmdir` while other test
//! suites churned cgroups). On an async worker that stalls every task of the
//! daemon — on a current-thread runtime, the whole daemon. Reads of a box's
//! `cgroup.procs` and usage files stay inline: they take no such lock.

use crate::SandboxError;

/// Run `work` on the blocking pool and wait for it. A panic in `work` is
/// resumed here; a pool that is shutting down is [`SandboxError::SpawnerGone`].
pub(crate) async fn offload<T, F>(work: F) -> Result<T, SandboxError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SandboxError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => Err(SandboxError::SpawnerGone(err.to_string())),
    }
}
