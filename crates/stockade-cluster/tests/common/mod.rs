//! A private PostgreSQL for the cluster tests: initdb into a temp dir (as
//! the `postgres` user when run as root, since initdb refuses root),
//! listening on a free loopback port and a socket in the temp dir; stopped
//! (immediate) and removed on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use stockade_cluster::{Member, MemberOptions};
use stockade_spec::ClusterConfig;

pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    found.pop()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl TempPostgres {
    /// A running private PostgreSQL, or `None` (with the reason printed)
    /// when this machine has none — a failure instead under
    /// `STOCKADE_CLUSTER_REQUIRED=1` (CI sets it).
    pub fn start() -> Option<TempPostgres> {
        let required = std::env::var_os("STOCKADE_CLUSTER_REQUIRED").is_some_and(|v| v == "1");
        let Some(bin) = bin_dir() else {
            assert!(
                !required,
                "STOCKADE_CLUSTER_REQUIRED=1 but no PostgreSQL (initdb) is installed"
            );
            eprintln!("skipped: no PostgreSQL installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("stockade-pg-").tempdir().unwrap();
        if is_root() {
            let chown =
                Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().unwrap();
            assert!(chown.success(), "chown postgres {}", dir.path().display());
        }
        let pg = TempPostgres { dir, bin, port: free_port() };
        let data = pg.data();
        pg.run_ok(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
                "--no-sync",
            ],
        );
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nmax_connections = 200\nfsync = off\nlog_min_messages = warning\n",
            pg.port,
            pg.dir.path().display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .unwrap();
        pg.start_server();
        pg.run_ok(
            "createdb",
            &[
                "-h",
                pg.dir.path().to_str().unwrap(),
                "-p",
                &pg.port.to_string(),
                "-U",
                "postgres",
                "stockade",
            ],
        );
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(self.dir.path()).output().unwrap()
    }

    fn run_ok(&self, tool: &str, args: &[&str]) {
        let out = self.run(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn start_server(&self) {
        let log = self.dir.path().join("postgres.log");
        self.run_ok(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    pub fn stop_server(&self, mode: &str) {
        self.run_ok(
            "pg_ctl",
            &["-D", self.data().to_str().unwrap(), "-m", mode, "-w", "-t", "60", "stop"],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/stockade", self.port)
    }

    /// `sql` through psql; the unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.run(
            "psql",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "stockade",
                "-XAtc",
                sql,
            ],
        );
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fast lease settings for tests: heartbeat 100 ms, stop after 400 ms,
    /// lost after 1 s.
    pub fn config(&self) -> ClusterConfig {
        let mut c = ClusterConfig::new(self.url());
        c.heartbeat = Duration::from_millis(100);
        c.stop_after = Duration::from_millis(400);
        c.lost_after = Duration::from_secs(1);
        c.max_clock_skew = Duration::from_millis(200);
        c
    }

    pub async fn member(&self, host: &str) -> Member {
        self.member_as(host, &format!("instance-of-{host}")).await
    }

    pub async fn member_as(&self, host: &str, instance: &str) -> Member {
        let (m, _) = Member::join(options(self.config(), host, instance)).await.expect("join");
        m
    }
}

pub fn options(config: ClusterConfig, host: &str, instance: &str) -> MemberOptions {
    MemberOptions {
        config,
        host: host.to_owned(),
        instance: instance.to_owned(),
        version: "test".to_owned(),
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", self.data().to_str().unwrap(), "-m", "immediate", "-w", "-t", "30", "stop"],
        );
    }
}

/// Poll `f` every 20 ms until it is true, for at most `secs`.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
