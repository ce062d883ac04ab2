//! A rootless sandbox, for real. The outer test (root) does what a root
//! daemon leaves behind — a root-owned `stockade-rootless-<pid>` parent in
//! every v1 hierarchy — and makes a scratch dir owned by `nobody`; then it
//! runs this test binary again as `nobody` (uid and gid 65534, no
//! supplementary groups) with only [`inner`] selected. The inner half
//! builds a `Sandbox` on that parent: it must fall back to the none backend
//! with a warning naming the unwritable parent (not fail every spawn with
//! EACCES), say it is rootless, run a walled box whose agent is root inside
//! mapped to 65534 outside with `no_new_privs` and seccomp, and refuse a box
//! `user` with a typed error. The outer half checks the inner's report and
//! that the host is unharmed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

use stockade_proto::Limits;
use stockade_sandbox::{BackendChoice, BackendKind, BoxUser, Sandbox, SandboxConfig, SpawnError};

use crate::support::{own_dir, run_walled, walled_spec};

const INNER: &str = "STOCKADE_ROOTLESS_SCRATCH";
const PARENT: &str = "STOCKADE_ROOTLESS_PARENT";
const NOBODY: u32 = 65534;

/// Removes the root-owned parents even when the test fails.
struct Parents(Vec<PathBuf>);

impl Drop for Parents {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn a_rootless_sandbox_falls_back_past_a_root_owned_parent_and_still_walls() {
    if std::env::var_os(INNER).is_some() {
        return; // the inner run selects only `inner`
    }
    if rustix::process::getuid().as_raw() != 0 {
        eprintln!("skipping: needs root to make the root-owned parent and to become nobody");
        return;
    }
    let parent = format!("stockade-rootless-{}", std::process::id());
    let parents = Parents(
        ["memory", "pids", "cpu", "cpuacct", "freezer"]
            .iter()
            .map(|c| own_dir(c))
            .filter(|d| d.is_dir())
            .map(|d| d.join(&parent))
            .collect(),
    );
    for dir in &parents.0 {
        std::fs::create_dir(dir).unwrap();
        assert_eq!(std::fs::metadata(dir).unwrap().uid(), 0);
    }
    // Scratch space nobody owns, with a copy of this binary it may run.
    let scratch = tempfile::Builder::new().prefix("stockade-rootless-").tempdir_in("/tmp").unwrap();
    let exe = scratch.path().join("real-tests");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(scratch.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = {
        use std::os::unix::process::CommandExt;
        Command::new(&exe)
            .args(["--exact", "rootless::inner", "--nocapture", "--test-threads=1"])
            .env(INNER, scratch.path())
            .env(PARENT, &parent)
            .env("HOME", scratch.path())
            .current_dir(scratch.path())
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("the rootless half said:\n{stdout}\n{stderr}");
    assert!(out.status.success(), "the rootless half failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the inner test did not run:\n{stdout}");
    assert!(stdout.contains("ROOTLESS-OK"), "{stdout}");
    // Nothing was made below the root-owned parents.
    for dir in &parents.0 {
        let children: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .collect();
        assert!(children.is_empty(), "{}: {children:?}", dir.display());
    }
}

/// The half that runs as nobody (selected by the outer test; a no-op otherwise).
#[test]
fn inner() {
    let Some(scratch) = std::env::var_os(INNER).map(PathBuf::from) else { return };
    let parent = std::env::var(PARENT).unwrap();
    assert_eq!(rustix::process::geteuid().as_raw(), NOBODY);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let config =
            SandboxConfig { parent: parent.clone(), mode: BackendChoice::Auto, ..SandboxConfig::default() };
        let sandbox = Sandbox::new(config).expect("a rootless sandbox starts");
        assert_eq!(sandbox.kind(), BackendKind::None, "{:?}", sandbox.warnings());
        let warnings = sandbox.warnings().join("\n");
        assert!(
            warnings.contains(&format!("/{parent} is not writable by uid {NOBODY} (owned by uid 0")),
            "the fallback names the root-owned parent:\n{warnings}"
        );
        assert!(warnings.contains("NOT enforced"), "{warnings}");
        assert!(warnings.contains("rootless: the daemon runs as uid 65534"), "{warnings}");

        // A walled box: root inside, nobody outside, every wall but the ids.
        let script = r#"
            echo uid=$(id -u) gid=$(id -g)
            echo map=$(cat /proc/self/uid_map)
            echo gmap=$(cat /proc/self/gid_map)
            grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
            echo procs=$(ls /proc | grep -c '^[0-9]')
            echo host=$(hostname)
            echo made > /workspace/made && echo ws=ok
            echo x > /etc/stockade-rootless-probe 2>/dev/null && echo etc=written || echo etc=refused
        "#;
        let s = walled_spec("rootless-ok", &["sh", "-c", script], Limits::default(), &scratch);
        let ws = s.walls.as_ref().unwrap().workspace.clone();
        let (out, err, status) = run_walled(&sandbox, s).await;
        assert!(status.success(), "{status:?}\n{out}\n{err}");
        let line = |key: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| panic!("no {key} in {out}\n{err}"))
        };
        assert_eq!(line("uid="), "0 gid=0");
        assert_eq!(line("map="), "0 65534 1", "root inside is nobody outside");
        assert_eq!(line("gmap="), "0 65534 1");
        assert_eq!(line("NoNewPrivs:"), "1");
        assert_eq!(line("Seccomp:"), "2");
        assert!(line("procs=").parse::<u32>().unwrap() <= 5, "{out}");
        assert_eq!(line("host="), "walled-test");
        assert_eq!(line("ws="), "ok");
        assert_eq!(line("etc="), "refused", "the host root is read-only");
        assert_eq!(std::fs::metadata(ws.join("made")).unwrap().uid(), NOBODY);
        assert!(!std::path::Path::new("/etc/stockade-rootless-probe").exists());

        // A box user other than root cannot exist in a one-id namespace.
        let mut s = walled_spec("rootless-user", &["true"], Limits::default(), &scratch.join("u"));
        s.walls.as_mut().unwrap().user = Some(BoxUser::Id { uid: 1000, gid: 1000 });
        match sandbox.spawn(s).await {
            Err(SpawnError::InvalidSpec { reason, hint, .. }) => {
                assert!(reason.contains("rootless (uid 65534)"), "{reason}");
                assert!(hint.contains("remove `user`"), "{hint}");
            }
            other => panic!("expected a typed refusal, got {other:?}"),
        }
        println!("{out}\nROOTLESS-OK\n{warnings}");
    });
}
