//! [`SandboxLauncher`]: the real [`Launcher`], over `stockade-sandbox`.
//! (Wired in once the sandbox's `Agent` API is final.)

use crate::launcher::{LaunchRequest, Launcher, RunEvent, StopRequest};
use stockade_proto::{RunId, Usage};
use tokio::sync::{mpsc, oneshot};

/// Starts runs in real boxes.
#[derive(Debug, Default)]
pub struct SandboxLauncher {}

impl Launcher for SandboxLauncher {
    fn launch(&mut self, _request: LaunchRequest, _events: mpsc::UnboundedSender<RunEvent>) {}
    fn stop(&mut self, _run: RunId, _request: StopRequest) {}
    fn usage(&mut self, _run: RunId, _reply: oneshot::Sender<Usage>) {}
    fn forget(&mut self, _run: RunId) {}
    fn reclaim(&mut self, _box_name: &str) -> Result<u32, String> {
        Ok(0)
    }
}
