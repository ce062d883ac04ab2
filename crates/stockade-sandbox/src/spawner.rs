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

struct Request {
    command: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

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
                for Request { mut command, reply } in incoming {
                    let child = command.spawn();
                    // Dropping the command closes the parent's copies of the
                    // cgroup.procs fds the pre_exec hook captured.
                    drop(command);
                    let _ = reply.send(child);
                }
            })
            .map_err(|e| SandboxError::SpawnerGone(e.to_string()))?;
        Ok(Spawner { requests })
    }

    /// Spawn `command` on the spawner thread.
    pub(crate) async fn spawn(&self, command: Command) -> Result<io::Result<Child>, SandboxError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { command, reply })
            .map_err(|_| SandboxError::SpawnerGone("its request channel is closed".into()))?;
        answer.await.map_err(|_| SandboxError::SpawnerGone("it dropped the request".into()))
    }
}
