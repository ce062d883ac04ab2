//! Checks made before anything starts, so a spec that cannot work fails as a
//! whole, with every problem listed, instead of half-starting: a service
//! whose program does not exist, or whose probe targets a local port that
//! another process already holds (the probe would test that process).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stockade_spec::{ProbeCheck, Spec};

/// How long a probe-port check waits for a connection.
const CONNECT: Duration = Duration::from_millis(200);

/// Every reason the spec's services cannot start here.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) before starting:\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PreflightError {
    /// One line per problem, each naming the service and what to do.
    pub problems: Vec<String>,
}

/// Check every service of `spec`.
pub fn check(spec: &Spec) -> Result<(), PreflightError> {
    let mut problems = Vec::new();
    for service in &spec.services {
        let cwd = service.cwd.clone().unwrap_or_else(|| spec.base_dir.clone());
        if let Some(program) = service.command.first()
            && let Err(why) = find_program(program, &cwd)
        {
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
                if let Some(addr) = taken(host, port) {
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
fn taken(host: &str, port: u16) -> Option<SocketAddr> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    addrs
        .filter(|a| a.ip().is_loopback() || a.ip().is_unspecified())
        .find(|a| TcpStream::connect_timeout(a, CONNECT).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> Spec {
        let dir = std::env::temp_dir();
        Spec::parse(toml, &dir.join("stockade.toml"), &|_| None).expect("valid spec")
    }

    #[test]
    fn a_missing_program_and_a_taken_probe_port_are_both_reported() {
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
        let err = check(&spec).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].starts_with(
            "service `ghost`: command `definitely-not-a-program-xyz` not found in PATH"
        ));
        assert!(err.problems[1].contains(&format!("127.0.0.1:{port} already accepts connections")));
    }

    #[test]
    fn a_runnable_spec_passes() {
        let spec = spec(
            "[service.ok]\ncommand = [\"sleep\", \"1\"]\nreadiness = { tcp = \"127.0.0.1:1\" }\n",
        );
        check(&spec).unwrap();
    }

    #[test]
    fn a_file_that_is_not_executable_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("script.sh"), "echo hi").unwrap();
        let err = find_program("./script.sh", dir.path()).unwrap_err();
        assert!(err.contains("is not an executable file"), "{err}");
    }
}
