//! Checks made before anything starts, so a spec that cannot work fails as a
//! whole, with every problem listed, instead of half-starting: a service
//! whose program does not exist, or whose probe targets a local port that
//! another process already holds (the probe would test that process).
//!
//! A walled service's program is looked for as the box will see it: in the
//! box's `PATH` (the spec's, else `stockade_spec::DEFAULT_PATH`) on its root
//! (`rootfs`, else the host's, read-only), through its `mounts`; a relative
//! program runs from the box's working directory, by default the workspace
//! `/workspace`, which starts empty.

//!
//! It runs on the daemon's async task, so nothing here blocks it: program
//! lookups (`stat` on the disk) go to the blocking pool, the probe hosts
//! are resolved with tokio's resolver and connected to with tokio's
//! sockets, each under a timeout.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use stockade_spec::{DEFAULT_HOME, DEFAULT_PATH, Isolation, ProbeCheck, Spec, WallsSpec};

/// How long a probe-port check waits for a connection.
const CONNECT: Duration = Duration::from_millis(200);
/// How long a probe host's name may take to resolve; a slower resolver
/// skips the check (the probe itself reports the host later).
const RESOLVE: Duration = Duration::from_secs(2);

/// Every reason the spec's services cannot start here.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) before starting:\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PreflightError {
    /// One line per problem, each naming the service and what to do.
    pub problems: Vec<String>,
}

/// Check every service of `spec`.
pub async fn check(spec: &Arc<Spec>) -> Result<(), PreflightError> {
    let lookups = spec.clone();
    let programs = tokio::task::spawn_blocking(move || programs(&lookups)).await.map_err(|e| {
        PreflightError { problems: vec![format!("the program lookups failed: {e}")] }
    })?;
    let mut problems = Vec::new();
    for (service, found) in spec.services.iter().zip(programs) {
        if let Err(why) = found {
            problems.push(format!("service `{}`: {why}", service.name));
        }
        for replica in 0..service.replicas {
            let expanded = service.for_replica(replica);
            for (kind, probe) in
                [("readiness", &expanded.readiness), ("liveness", &expanded.liveness)]
            {
                let Some(probe) = probe else { continue };
                let (host, port) = match &probe.check {
                    ProbeCheck::Http { host, port, .. } | ProbeCheck::Tcp { host, port } => {
                        (host, *port)
                    }
                    ProbeCheck::Exec(_) => continue,
                };
                if let Some(addr) = taken(host, port).await {
                    problems.push(format!(
                        "service `{}` replica {replica}: its {kind} probe target {addr} already accepts connections before the service started; another process holds the port, so the probe would test that process — stop it or change the port",
                        service.name
                    ));
                }
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(PreflightError { problems }) }
}

/// For each service, whether its program can be found (blocking: `stat`s).
fn programs(spec: &Spec) -> Vec<Result<(), String>> {
    let found = |service: &stockade_spec::ServiceSpec| match (
        &service.isolation,
        service.command.first(),
    ) {
        (_, None) => Ok(()),
        (Isolation::None, Some(program)) => {
            let cwd = service.cwd.clone().unwrap_or_else(|| spec.base_dir.clone());
            find_program(program, &cwd).map(drop)
        }
        (Isolation::Walls(walls), Some(program)) => {
            let path = service.env.get("PATH").map_or(DEFAULT_PATH, String::as_str);
            find_in_box(walls, program, service.cwd.as_deref(), path)
        }
    };
    spec.services.iter().map(found).collect()
}

/// The program `name` resolves to, or why it does not.
fn find_program(name: &str, cwd: &Path) -> Result<PathBuf, String> {
    if name.contains('/') {
        let path = cwd.join(name);
        return executable(&path).map(|()| path);
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&search) {
        let path = dir.join(name);
        if executable(&path).is_ok() {
            return Ok(path);
        }
    }
    Err(format!(
        "command `{name}` not found in PATH ({}); install it or give its full path",
        search.to_string_lossy()
    ))
}

/// Whether `program` resolves inside a box with `walls`, working directory
/// `cwd` (default the workspace) and `PATH` `path`.
fn find_in_box(
    walls: &WallsSpec,
    program: &str,
    cwd: Option<&Path>,
    path: &str,
) -> Result<(), String> {
    let cwd = cwd.unwrap_or(Path::new(DEFAULT_HOME));
    let candidates: Vec<PathBuf> = if program.starts_with('/') {
        vec![PathBuf::from(program)]
    } else if program.contains('/') {
        vec![cwd.join(program)]
    } else {
        path.split(':').filter(|d| d.starts_with('/')).map(|d| Path::new(d).join(program)).collect()
    };
    let mut unknowable = false;
    for inside in &candidates {
        match host_path(walls, inside) {
            Some(host) if executable(&host).is_ok() => return Ok(()),
            Some(_) => {}
            None => unknowable = true,
        }
    }
    if unknowable
        && program.contains('/')
        && !program.starts_with('/')
        && cwd == Path::new(DEFAULT_HOME)
    {
        return Err(format!(
            "command `{program}` is relative to the box's working directory {DEFAULT_HOME}, which starts empty; mount the directory that holds it (mounts = [{{ source = \".\", target = \"/app\", read_only = true }}]) and set cwd = \"/app\", or give an absolute path"
        ));
    }
    if unknowable {
        // Under the workspace or /tmp: made per box, nothing to check yet.
        return Ok(());
    }
    let root = walls
        .rootfs
        .as_ref()
        .map_or("the host's root".to_owned(), |r| format!("the rootfs {}", r.display()));
    Err(format!(
        "command `{program}` is not in the box ({root}, searched {}); install it there, mount it, or give its full path inside the box",
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// Where the box's path `inside` is on the host: through the longest
/// matching mount, else on its root; `None` for the per-box workspace and
/// `/tmp`, which do not exist yet.
fn host_path(walls: &WallsSpec, inside: &Path) -> Option<PathBuf> {
    let inside: PathBuf = inside.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    let mount = walls
        .mounts
        .iter()
        .filter(|m| inside.starts_with(&m.target))
        .max_by_key(|m| m.target.components().count());
    if let Some(m) = mount {
        return inside.strip_prefix(&m.target).ok().map(|rest| m.source.join(rest));
    }
    if inside.starts_with(DEFAULT_HOME) || inside.starts_with("/tmp") {
        return None;
    }
    match &walls.rootfs {
        Some(root) => inside.strip_prefix("/").ok().map(|rest| root.join(rest)),
        None => Some(inside),
    }
}

fn executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("command `{}`: {e}", path.display()))?;
    if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(format!(
            "command `{}` is not an executable file; `chmod +x` it or run it through its interpreter",
            path.display()
        ))
    }
}

/// The address of `host:port` if it is local and something already listens there.
async fn taken(host: &str, port: u16) -> Option<SocketAddr> {
    let resolved = tokio::time::timeout(RESOLVE, tokio::net::lookup_host((host, port))).await;
    let addrs = match resolved {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(_)) => return None,
        Err(_) => {
            tracing::warn!(
                host,
                "resolving a probe host took over {RESOLVE:?}; its port is not checked"
            );
            return None;
        }
    };
    for addr in addrs.filter(|a| a.ip().is_loopback() || a.ip().is_unspecified()) {
        let connect = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(_)) = tokio::time::timeout(CONNECT, connect).await {
            return Some(addr);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> Arc<Spec> {
        let dir = std::env::temp_dir();
        Arc::new(Spec::parse(toml, &dir.join("stockade.toml"), &|_| None).expect("valid spec"))
    }

    #[tokio::test]
    async fn a_missing_program_and_a_taken_probe_port_are_both_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = spec(&format!(
            r#"
[service.ghost]
command = ["definitely-not-a-program-xyz"]

[service.web]
command = ["sleep", "60"]
readiness = {{ http = "http://127.0.0.1:{port}/health" }}
"#
        ));
        let err = check(&spec).await.unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].starts_with(
            "service `ghost`: command `definitely-not-a-program-xyz` is not in the box (the host's root"
        ));
        assert!(err.problems[1].contains(&format!("127.0.0.1:{port} already accepts connections")));
    }

    #[tokio::test]
    async fn a_runnable_spec_passes() {
        let spec = spec(
            "[service.ok]\ncommand = [\"sleep\", \"1\"]\nreadiness = { tcp = \"127.0.0.1:1\" }\n",
        );
        check(&spec).await.unwrap();
    }

    #[test]
    fn a_walled_program_is_found_as_the_box_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("agent.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mounted = WallsSpec {
            mounts: vec![stockade_spec::MountSpec {
                source: dir.path().to_path_buf(),
                target: "/app".into(),
                read_only: true,
            }],
            ..WallsSpec::default()
        };
        assert_eq!(
            find_in_box(&mounted, "./agent.sh", Some(Path::new("/app")), DEFAULT_PATH),
            Ok(())
        );
        assert_eq!(find_in_box(&mounted, "/app/agent.sh", None, DEFAULT_PATH), Ok(()));
        assert_eq!(
            find_in_box(&mounted, "sh", None, DEFAULT_PATH),
            Ok(()),
            "the host's root, read-only"
        );
        let bare = WallsSpec::default();
        let err = find_in_box(&bare, "./agent.sh", None, DEFAULT_PATH).unwrap_err();
        assert!(err.contains("/workspace, which starts empty"), "{err}");
        let err = find_in_box(&bare, "no-such-program-xyz", None, "/usr/bin:/bin").unwrap_err();
        assert!(
            err.contains("searched /usr/bin/no-such-program-xyz, /bin/no-such-program-xyz"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_executable_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("script.sh"), "echo hi").unwrap();
        let err = find_program("./script.sh", dir.path()).unwrap_err();
        assert!(err.contains("is not an executable file"), "{err}");
    }
}
