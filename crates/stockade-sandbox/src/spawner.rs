//! The one long-lived spawner thread. `Command::spawn` blocks its caller until
//! the child has exec'd, and a v1 cgroup join in `pre_exec` can take 10–60 ms
//! (the migration waits on `cgroup_threadgroup_rwsem`), so spawning on a tokio
//! worker would stall the reactor. The thread has entered the runtime handle,
//! so tokio registers each child's pidfd with the reactor. It lives as long as
//! the [`crate::Sandbox`]: `PR_SET_PDEATHSIG` fires when the *thread* that
//! forked exits, so a short-lived blocking-pool thread would kill its children.

use std::io;
use std::sync::mpsc;
use std::thread;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::SandboxError;

/// One job for the thread: a `Command` spawn or a walled `clone`.
type Request = Box<dyn FnOnce() + Send>;

/// The sending side; the thread exits when this is dropped.
#[derive(Debug)]
pub(crate) struct Spawner {
    requests: mpsc::Sender<Request>,
}

impl Spawner {
    /// Start the thread inside `handle`'s runtime.
    pub(crate) fn start(handle: tokio::runtime::Handle) -> Result<Spawner, SandboxError> {
        let (requests, incoming) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("stockade-spawner".into())
            .spawn(move || {
                let _runtime = handle.enter();
                for job in incoming {
                    job();
                }
            })
            .map_err(|e| SandboxError::SpawnerGone(e.to_string()))?;
        Ok(Spawner { requests })
    }

    /// Spawn `command` on the spawner thread.
    pub(crate) async fn spawn(
        &self,
        mut command: Command,
    ) -> Result<io::Result<Child>, SandboxError> {
        self.run(move || {
            let child = command.spawn();
            // Dropping the command closes the parent's copies of the
            // cgroup.procs fds the pre_exec hook captured.
            drop(command);
            child
        })
        .await
    }

    /// Run `job` on the spawner thread (a walled `clone` must happen there:
    /// the parent-death signal follows the thread that cloned).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SandboxError> {
        let (reply, answer) = oneshot::channel();
        let request: Request = Box::new(move || {
            let _ = reply.send(job());
        });
        self.requests
            .send(request)
            .map_err(|_| SandboxError::SpawnerGone("its request channel is closed".into()))?;
        answer.await.map_err(|_| SandboxError::SpawnerGone("it dropped the request".into()))
    }
}
