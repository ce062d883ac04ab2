//! [`SandboxExec`]: exec into any box — a walled one through
//! `stockade_sandbox::Sandbox::exec` (setns into its namespaces, its cgroups,
//! uid, capabilities, seccomp filter), an unwalled one through [`HostExec`].

use super::{
    BoxExec, ExecChild, ExecControl, ExecError, ExecSpec, ExecStart, HostExec, Input, Output,
};
use std::io;
use std::os::unix::process::ExitStatusExt;
use stockade_proto::{ExitCause, TermSize};
use stockade_sandbox::Sandbox;
use tokio::sync::{mpsc, oneshot};

/// Exec through the daemon's sandbox, falling back to [`HostExec`] for boxes
/// without namespaces.
#[derive(Clone)]
pub struct SandboxExec {
    sandbox: Sandbox,
    host: HostExec,
}

impl SandboxExec {
    /// Exec into the boxes of `sandbox`.
    pub fn new(sandbox: Sandbox) -> SandboxExec {
        SandboxExec { sandbox, host: HostExec::default() }
    }
}

/// What the control side asks of the task that owns the sandbox's process.
enum Control {
    Resize(TermSize),
    Signal(i32),
}

struct Controls(mpsc::UnboundedSender<Control>);

impl ExecControl for Controls {
    fn resize(&self, size: TermSize) -> io::Result<()> {
        self.0.send(Control::Resize(size)).map_err(|_| io::ErrorKind::BrokenPipe.into())
    }
    fn signal(&self, signal: i32) -> io::Result<()> {
        self.0.send(Control::Signal(signal)).map_err(|_| io::ErrorKind::BrokenPipe.into())
    }
    fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }
}

impl BoxExec for SandboxExec {
    fn exec(&self, spec: ExecSpec) -> ExecStart<'_> {
        Box::pin(async move {
            match self.host.exec(spec.clone()).await {
                Err(ExecError::Walled { .. }) => self.walled(spec).await,
                other => other,
            }
        })
    }
}

impl SandboxExec {
    async fn walled(&self, spec: ExecSpec) -> Result<ExecChild, ExecError> {
        let request = stockade_sandbox::ExecSpec {
            pid: spec.pid,
            argv: spec.argv,
            env: spec.env,
            cwd: spec.cwd,
            tty: spec.tty.is_some(),
        };
        let mut process = self
            .sandbox
            .exec(request)
            .await
            .map_err(|e| ExecError::Sandbox { cause: e.cause(), message: e.to_string() })?;
        if let Some(size) = spec.tty {
            let _ = process.resize(size.rows, size.cols);
        }
        let (stdin, stdout, stderr): (Option<Input>, Output, Option<Output>) =
            match process.take_pty() {
                Some(pty) => {
                    let (read, write) = tokio::io::split(pty);
                    (Some(Box::new(write)), Box::new(read), None)
                }
                None => {
                    let stdout = process.take_stdout().ok_or_else(|| ExecError::Spawn {
                        program: "the command".into(),
                        source: io::ErrorKind::BrokenPipe.into(),
                    })?;
                    (
                        process.take_stdin().map(|s| Box::new(s) as Input),
                        Box::new(stdout),
                        process.take_stderr().map(|s| Box::new(s) as Output),
                    )
                }
            };
        let (control_tx, mut control_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        // One task owns the process: `wait` needs it mutably while resizes and
        // signals arrive.
        tokio::spawn(async move {
            let status = loop {
                tokio::select! {
                    status = process.wait() => break status,
                    control = control_rx.recv() => match control {
                        Some(Control::Resize(s)) => { let _ = process.resize(s.rows, s.cols); }
                        Some(Control::Signal(n)) => { let _ = process.signal(n); }
                        None => break process.wait().await,
                    },
                }
            };
            let _ = exit_tx.send(status);
        });
        let exit = Box::pin(async move {
            let status =
                exit_rx.await.map_err(|_| io::Error::other("the exec's waiter ended"))??;
            Ok(match (status.code(), status.signal()) {
                (Some(code), _) => ExitCause::Exited { code },
                (None, Some(signal)) => {
                    ExitCause::Signaled { signal, core_dumped: status.core_dumped() }
                }
                (None, None) => ExitCause::Exited { code: 1 },
            })
        });
        Ok(ExecChild { stdin, stdout, stderr, control: Box::new(Controls(control_tx)), exit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::{Frame, FrameDecoder};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_walled_box_is_entered_through_the_sandbox() {
        let parent = format!("stockade-guard-tmp-{}", std::process::id());
        let config =
            stockade_sandbox::SandboxConfig { parent: parent.clone(), ..Default::default() };
        if !rustix::process::getuid().is_root() {
            eprintln!("skipped: walled boxes need root here");
            return;
        }
        let sandbox = Sandbox::new(config).unwrap();
        // Removes this test's cgroup tree however the test ends (a panic too).
        struct Cleanup(Sandbox);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                for _ in 0..50 {
                    match self.0.remove_subtree() {
                        Ok(()) => return,
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                    }
                }
                if let Err(e) = self.0.remove_subtree() {
                    eprintln!("the test's cgroups were not removed: {e}");
                }
            }
        }
        let _cleanup = Cleanup(sandbox.clone());
        let dir = tempfile::tempdir().unwrap();
        let mut walls = stockade_sandbox::Walls::new(dir.path().join("ws"));
        walls.hostname = "gbox".into();
        let spec = stockade_sandbox::SpawnSpec {
            box_name: "g.0".into(),
            argv: vec!["sleep".into(), "30".into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            walls: Some(walls),
            ..Default::default()
        };
        let mut agent = sandbox.spawn(spec).await.unwrap();
        let exec = SandboxExec::new(sandbox.clone());
        for tty in [None, Some(TermSize { rows: 30, cols: 90 })] {
            let child = exec
                .exec(ExecSpec {
                    pid: agent.pid(),
                    argv: vec![
                        "sh".into(),
                        "-c".into(),
                        "echo pid=$$ host=$(hostname); [ -t 0 ] && stty size; exit 4".into(),
                    ],
                    env: vec![("EXTRA".into(), "1".into())],
                    cwd: None,
                    tty,
                })
                .await;
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let session = tokio::spawn(super::super::serve(theirs, child));
            let (mut r, mut w) = tokio::io::split(ours);
            w.write_all(&Frame::CloseStdin.encode()).await.unwrap();
            let mut dec = FrameDecoder::default();
            let mut out = String::new();
            let mut buf = [0u8; 4096];
            let exit = loop {
                let n = r.read(&mut buf).await.unwrap();
                assert!(n > 0, "no exit frame: {out}");
                dec.push(&buf[..n]);
                let mut done = None;
                while let Some(f) = dec.next_frame().unwrap() {
                    match f {
                        Frame::Stdout(b) | Frame::Stderr(b) => {
                            out.push_str(&String::from_utf8_lossy(&b))
                        }
                        Frame::Exit(e) => done = Some(e),
                        _ => {}
                    }
                }
                if let Some(e) = done {
                    break e;
                }
            };
            session.await.unwrap();
            eprintln!("tty={tty:?} out={out:?} exit={exit:?}");
            assert_eq!(exit.cause, ExitCause::Exited { code: 4 }, "{out}");
            assert!(out.contains("host=gbox"), "{out}");
            if tty.is_some() {
                assert!(out.contains("30 90"), "{out}");
            }
        }
        agent.stop(15, std::time::Duration::from_secs(1)).await;
        drop(agent);
    }
}
