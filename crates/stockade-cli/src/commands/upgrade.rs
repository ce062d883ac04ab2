//! Upgrade in place: after the daemon stopped for an upgrade (every box left
//! running, the store flushed and closed, its lock released, the sockets
//! closed and removed), `execve` the binary on disk with the same arguments
//! and environment. The pid stays, so the boxes' processes stay its children
//! and a supervisor (systemd, a container's init) sees no exit. The new
//! daemon starts as after a crash and recovers the boxes it finds.
//!
//! `stockade daemon --upgrade` asks a running daemon to do this
//! (`POST /api/daemon/upgrade`) and waits until the same pid serves again.

use crate::client::Client;
use crate::exit::{FAILED, fail};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use stockade_proto::StatusView;

/// How long `--upgrade` waits for the new daemon to serve.
const UPGRADE_WAIT: Duration = Duration::from_secs(60);

/// The binary on disk: `/proc/self/exe`'s target, even if it was replaced
/// (a replaced file reads as `PATH (deleted)`; the new file is at `PATH`).
pub fn binary_on_disk() -> anyhow::Result<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe")
        .or_else(|_| std::env::current_exe())
        .map_err(|e| fail(FAILED, format!("cannot find the stockade binary to exec: {e}"), None))?;
    let text = exe.as_os_str().as_bytes();
    let suffix = b" (deleted)";
    if text.ends_with(suffix) {
        let trimmed = &text[..text.len() - suffix.len()];
        return Ok(PathBuf::from(std::ffi::OsStr::from_bytes(trimmed)));
    }
    Ok(exe)
}

/// Replace this process with the binary on disk, same arguments and
/// environment. Returns only the error if `execve` failed.
pub fn exec_self() -> anyhow::Error {
    let binary = match binary_on_disk() {
        Ok(binary) => binary,
        Err(err) => return err,
    };
    let args: Vec<OsString> = std::env::args_os().collect();
    let cstr = |bytes: &[u8]| CString::new(bytes).ok();
    let Some(path) = cstr(binary.as_os_str().as_bytes()) else {
        return fail(FAILED, format!("{} has a NUL byte", binary.display()), None);
    };
    let argv: Option<Vec<CString>> = args.iter().map(|a| cstr(a.as_bytes())).collect();
    let envp: Option<Vec<CString>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut pair = k.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(v.as_bytes());
            cstr(&pair)
        })
        .collect();
    let (Some(argv), Some(envp)) = (argv, envp) else {
        return fail(FAILED, "an argument or environment entry has a NUL byte", None);
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    tracing::info!(binary = %binary.display(), pid = std::process::id(), "exec: the new daemon takes over");
    // SAFETY: path, argv and envp are NUL-terminated C strings kept alive
    // above; the pointer arrays end with NULL. execve only returns on error.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    let err = std::io::Error::last_os_error();
    fail(
        FAILED,
        format!(
            "cannot exec {} for the upgrade: {err}; the daemon stopped, its boxes were left running",
            binary.display()
        ),
        Some("start it again with `stockade daemon`; it recovers the boxes".to_string()),
    )
}

/// `stockade daemon --upgrade`: ask the running daemon to upgrade in place
/// and wait until the same pid serves again.
pub async fn request(client: Client) -> anyhow::Result<ExitCode> {
    let before: StatusView = client.get("/api/status").await?;
    let _: serde_json::Value = client.post("/api/daemon/upgrade", &serde_json::json!({})).await?;
    eprintln!("stockade: daemon pid {} is upgrading in place…", before.pid);
    let deadline = Instant::now() + UPGRADE_WAIT;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(now) = client.get::<StatusView>("/api/status").await
            && now.started_at != before.started_at
        {
            if now.pid != before.pid {
                return Err(fail(
                    FAILED,
                    format!(
                        "a daemon with another pid ({}) serves now, not {}",
                        now.pid, before.pid
                    ),
                    None,
                ));
            }
            println!("upgraded: pid {} serves again with the binary on disk", now.pid);
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() > deadline {
            return Err(fail(
                FAILED,
                format!(
                    "the daemon (pid {}) did not serve again within {}s",
                    before.pid,
                    UPGRADE_WAIT.as_secs()
                ),
                Some("see its log; if it is gone, start it with `stockade daemon`".to_string()),
            ));
        }
    }
}
