//! `[daemon]` → [`DaemonConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::table::{Reader, Table};
use crate::model::{
    DEFAULT_EVENT_RETENTION, DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_SIZE, DEFAULT_RESERVE_MEMORY,
    DEFAULT_RESERVE_TASKS, DaemonConfig, Listen, Synchronous,
};
use crate::problem::Problem;

pub(crate) const DAEMON_KEYS: &[&str] = &[
    "state_dir",
    "listen",
    "token",
    "token_env",
    "log_max_size",
    "log_keep",
    "event_retention",
    "reserve_memory",
    "reserve_tasks",
    "synchronous",
];

/// `sun_path` holds 108 bytes including the terminating NUL; a longer socket
/// path fails at bind time with a confusing EINVAL, so it is refused here.
const MAX_SOCKET_PATH: usize = 107;

impl Reader<'_> {
    pub(crate) fn daemon(&mut self, table: Option<&Table<'_, '_>>) -> DaemonConfig {
        let base = self.base_dir.clone();
        let mut config = DaemonConfig {
            state_dir: base.join(".stockade"),
            listen: Vec::new(),
            token: None,
            log_max_size: DEFAULT_LOG_MAX_SIZE,
            log_keep: DEFAULT_LOG_KEEP,
            event_retention: DEFAULT_EVENT_RETENTION,
            reserve_memory: DEFAULT_RESERVE_MEMORY,
            reserve_tasks: DEFAULT_RESERVE_TASKS,
            synchronous: Synchronous::Full,
        };
        let Some(t) = table else {
            config.listen = vec![Listen::Unix(config.state_dir.join("stockade.sock"))];
            return config;
        };
        if let Some(dir) = self.path(t, "state_dir") {
            config.state_dir = dir;
        }
        if let Some(size) = self.size(t, "log_max_size") {
            if size < 4096 {
                self.out_of_range(t, "log_max_size", size, "at least 4KiB");
            } else {
                config.log_max_size = size;
            }
        }
        config.log_keep = self.u32(t, "log_keep").unwrap_or(config.log_keep);
        if let Some(n) = self.unsigned(t, "event_retention") {
            if n < 1000 {
                self.out_of_range(t, "event_retention", n, "at least 1000 events");
            } else {
                config.event_retention = n;
            }
        }
        config.reserve_memory = self.size(t, "reserve_memory").unwrap_or(config.reserve_memory);
        config.reserve_tasks = self.unsigned(t, "reserve_tasks").unwrap_or(config.reserve_tasks);
        if let Some(value) = self.string(t, "synchronous") {
            match value.as_str() {
                "full" => config.synchronous = Synchronous::Full,
                "normal" => config.synchronous = Synchronous::Normal,
                _ => self.out_of_range(t, "synchronous", value, "\"full\" or \"normal\""),
            }
        }
        config.listen = self.listen(t, &config.state_dir);
        config.token = self.token(t, &config.listen);
        config
    }

    fn listen(&mut self, t: &Table<'_, '_>, state_dir: &Path) -> Vec<Listen> {
        let default = || vec![Listen::Unix(state_dir.join("stockade.sock"))];
        let Some(entries) = self.strings(t, "listen") else {
            return default();
        };
        if entries.is_empty() {
            self.out_of_range(t, "listen", "[]", "at least one address");
            return default();
        }
        let span = t.span_of("listen");
        let mut out = Vec::new();
        for entry in entries {
            match parse_listen(&entry, &self.base_dir) {
                Ok(listen) => out.push(listen),
                Err(reason) => {
                    self.report(Problem::BadListen { value: entry, reason }, span.clone())
                }
            }
        }
        out
    }

    fn token(&mut self, t: &Table<'_, '_>, listen: &[Listen]) -> Option<String> {
        let literal = self.string(t, "token");
        let var = self.string(t, "token_env");
        let token = match (literal, var) {
            (Some(_), Some(_)) => {
                self.report(Problem::TokenConflict, t.span_of("token"));
                None
            }
            (Some(token), None) => Some(token),
            (None, Some(var)) => match (self.env)(&var).filter(|v| !v.is_empty()) {
                Some(token) => Some(token),
                None => {
                    self.report(Problem::TokenEnvUnset { var }, t.span_of("token_env"));
                    None
                }
            },
            (None, None) => None,
        };
        let has_token = t.get("token").is_some() || t.get("token_env").is_some();
        for l in listen {
            if let Listen::Tcp(addr) = l
                && !addr.ip().is_loopback()
                && !has_token
            {
                self.report(
                    Problem::TokenRequired { value: format!("tcp:{addr}") },
                    t.span_of("listen"),
                );
            }
        }
        token
    }
}

fn parse_listen(entry: &str, base_dir: &Path) -> Result<Listen, &'static str> {
    if let Some(path) = entry.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("the socket path is empty");
        }
        let path: PathBuf = base_dir.join(path);
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(
                "the socket path is longer than 107 bytes, the Unix limit; use a shorter state_dir",
            );
        }
        Ok(Listen::Unix(path))
    } else if let Some(addr) = entry.strip_prefix("tcp:") {
        addr.parse::<SocketAddr>()
            .map(Listen::Tcp)
            .map_err(|_| "expected tcp:IP:PORT with an IP address, e.g. tcp:127.0.0.1:7878")
    } else {
        Err("it must start with unix: or tcp:")
    }
}
