//! `[daemon]` → [`DaemonConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::table::{Reader, Table};
use crate::model::{
    DEFAULT_EVENT_RETENTION, DEFAULT_HEADER_TIMEOUT, DEFAULT_ID_RANGE, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_SIZE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_PEER, DEFAULT_RESERVE_FDS, DEFAULT_RESERVE_MEMORY,
    DEFAULT_RESERVE_TASKS, DaemonConfig, IdRange, Listen, SocketGroup, Synchronous,
};
use crate::problem::Problem;

pub(crate) const DAEMON_KEYS: &[&str] = &[
    "state_dir",
    "listen",
    "token",
    "token_env",
    "token_file",
    "socket_group",
    "id_range",
    "log_max_size",
    "log_keep",
    "event_retention",
    "reserve_memory",
    "reserve_tasks",
    "synchronous",
    "max_connections",
    "max_connections_per_peer",
    "idle_timeout",
    "header_timeout",
    "reserve_fds",
];

/// Where `socket_group` is looked up. Local groups only: the daemon chgrps
/// its socket at start, and a group that only NSS (LDAP, sssd) knows would be
/// found by `chown` but not here — such hosts name the group by gid instead.
const GROUP_FILE: &str = "/etc/group";

/// Where the host hands out subordinate ids, which a box's range must avoid.
const SUBORDINATE_FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

/// The first `name:start:count` line of `text` that shares an id with `range`.
fn overlap(text: &str, range: IdRange) -> Option<&str> {
    let (first, last) = (u64::from(range.first), u64::from(range.last()));
    text.lines().find(|line| {
        let mut f = line.trim().split(':');
        let (_, start, count) = (f.next(), f.next(), f.next());
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
        match (parse(start), parse(count)) {
            (Some(start), Some(count)) if count > 0 => start <= last && first < start + count,
            _ => false,
        }
    })
}

/// The environment variable a TCP listener's token comes from when `[daemon]`
/// names no other source.
pub(crate) const STOCKADE_TOKEN: &str = "STOCKADE_TOKEN";

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
            socket_group: None,
            id_range: DEFAULT_ID_RANGE,
            log_max_size: DEFAULT_LOG_MAX_SIZE,
            log_keep: DEFAULT_LOG_KEEP,
            event_retention: DEFAULT_EVENT_RETENTION,
            reserve_memory: DEFAULT_RESERVE_MEMORY,
            reserve_tasks: DEFAULT_RESERVE_TASKS,
            synchronous: Synchronous::Full,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            reserve_fds: DEFAULT_RESERVE_FDS,
        };
        let Some(t) = table else {
            config.listen = vec![Listen::Unix(config.state_dir.join("stockade.sock"))];
            config.token = (self.env)(STOCKADE_TOKEN).filter(|v| !v.is_empty());
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
        for (key, slot) in [
            ("max_connections", &mut config.max_connections),
            ("max_connections_per_peer", &mut config.max_connections_per_peer),
        ] {
            match self.u32(t, key) {
                Some(0) => self.out_of_range(t, key, 0, "at least 1 connection"),
                Some(n) => *slot = n,
                None => {}
            }
        }
        config.reserve_fds = self.u32(t, "reserve_fds").unwrap_or(config.reserve_fds);
        config.idle_timeout =
            self.positive_duration(t, "idle_timeout").unwrap_or(config.idle_timeout);
        config.header_timeout =
            self.positive_duration(t, "header_timeout").unwrap_or(config.header_timeout);
        config.listen = self.listen(t, &config.state_dir);
        config.token = self.token(t, &config.listen);
        config.socket_group = self.socket_group(t);
        if config.socket_group.is_some() {
            let private = config.listen.iter().find_map(|l| match l {
                Listen::Unix(path) if path.starts_with(&config.state_dir) => Some(path.clone()),
                _ => None,
            });
            if let Some(path) = private {
                self.report(Problem::SocketInPrivateDir { path }, t.span_of("socket_group"));
            }
        }
        config.id_range = self.id_range(t).unwrap_or(DEFAULT_ID_RANGE);
        config
    }

    fn socket_group(&mut self, t: &Table<'_, '_>) -> Option<SocketGroup> {
        let name = self.string(t, "socket_group")?;
        let groups = std::fs::read_to_string(GROUP_FILE).unwrap_or_default();
        match group_id(&groups, &name) {
            Some(gid) => Some(SocketGroup { name, gid }),
            None => {
                let problem =
                    Problem::UnknownGroup { group: name, source_file: GROUP_FILE.to_owned() };
                self.report(problem, t.span_of("socket_group"));
                None
            }
        }
    }

    fn id_range(&mut self, t: &Table<'_, '_>) -> Option<IdRange> {
        let value = self.string(t, "id_range")?;
        let subordinate =
            SUBORDINATE_FILES.map(|f| (f, std::fs::read_to_string(f).unwrap_or_default()));
        let checked = parse_id_range(&value).and_then(|range| {
            for (file, text) in &subordinate {
                if let Some(line) = overlap(text, range) {
                    return Err(format!(
                        "it overlaps {file} (`{line}`): those ids belong to a user's own namespaces"
                    ));
                }
            }
            Ok(range)
        });
        match checked {
            Ok(range) => Some(range),
            Err(reason) => {
                self.report(Problem::BadIdRange { value, reason }, t.span_of("id_range"));
                None
            }
        }
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
        let sources = ["token", "token_env", "token_file"];
        let set: Vec<&str> = sources.into_iter().filter(|k| t.get(k).is_some()).collect();
        if set.len() > 1 {
            self.report(Problem::TokenConflict, t.span_of(set[1]));
            return None;
        }
        let token = match set.first().copied() {
            Some("token") => self.string(t, "token"),
            Some("token_env") => {
                let var = self.string(t, "token_env")?;
                match (self.env)(&var).filter(|v| !v.is_empty()) {
                    Some(token) => Some(token),
                    None => {
                        self.report(Problem::TokenEnvUnset { var }, t.span_of("token_env"));
                        None
                    }
                }
            }
            Some(_) => {
                let path = self.path(t, "token_file")?;
                match read_token_file(&path) {
                    Ok(token) => Some(token),
                    Err((reason, mode)) => {
                        self.report(
                            Problem::BadTokenFile { path, reason, mode },
                            t.span_of("token_file"),
                        );
                        None
                    }
                }
            }
            None => (self.env)(STOCKADE_TOKEN).filter(|v| !v.is_empty()),
        };
        let has_token = !set.is_empty() || token.is_some();
        for l in listen {
            if let Listen::Tcp(addr) = l
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

/// The gid of group `name` (or of a numeric `name`) in `/etc/group` text.
fn group_id(groups: &str, name: &str) -> Option<u32> {
    let by_name = groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let group = fields.next()?;
        let gid = fields.nth(1)?.parse().ok()?;
        (group == name).then_some(gid)
    });
    by_name.or_else(|| name.parse().ok())
}

/// `"FIRST-LAST"`, inclusive.
fn parse_id_range(text: &str) -> Result<IdRange, String> {
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| "expected FIRST-LAST, two ids with a dash".to_owned())?;
    let parse = |s: &str| {
        s.trim().parse::<u64>().map_err(|_| format!("\"{}\" is not a whole number", s.trim()))
    };
    let (first, last) = (parse(first)?, parse(last)?);
    if last >= u64::from(u32::MAX) {
        return Err(format!("{last} is past the last usable id, 4294967294"));
    }
    if last < first {
        return Err("the last id is below the first".to_owned());
    }
    let count = last - first + 1;
    if count < 65536 {
        return Err(format!("{count} ids is fewer than 65536, one box's worth"));
    }
    Ok(IdRange { first: first as u32, count: count as u32 })
}

/// The token in `path`: the file must be private (no group or other bits,
/// as `ssh` insists for keys) and hold a non-empty first line.
fn read_token_file(path: &Path) -> Result<String, (String, Option<u32>)> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| (format!("cannot be read: {e}"), None))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err((
            format!("is mode {mode:04o}; a token file must be 0600 (owner only)"),
            Some(mode),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| (format!("cannot be read: {e}"), None))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(("is empty".to_owned(), None));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_are_inclusive_within_u32_and_at_least_65536() {
        let r = parse_id_range("2147483648-4294901759").unwrap();
        assert_eq!(r, DEFAULT_ID_RANGE);
        assert_eq!(r.last(), 4_294_901_759);
        assert_eq!(parse_id_range("100000-165535").unwrap().count, 65536);
        assert!(parse_id_range("100000-165534").unwrap_err().contains("fewer than 65536"));
        assert!(parse_id_range("0-4294967295").unwrap_err().contains("past the last usable id"));
        assert!(parse_id_range("5-1").is_err());
        assert!(parse_id_range("100000").is_err());
    }

    #[test]
    fn a_range_overlapping_subordinate_ids_is_found() {
        let range = IdRange { first: 100_000, count: 65536 };
        let subuid = "# comment\nalice:165536:65536\nbob:100000:65536\n";
        assert_eq!(overlap(subuid, range), Some("bob:100000:65536"));
        assert_eq!(overlap("alice:165536:65536\n", range), None, "adjacent is not overlapping");
        assert_eq!(overlap("carol:99999:2\n", range), Some("carol:99999:2"));
    }

    #[test]
    fn groups_are_found_by_name_or_gid() {
        let groups = "root:x:0:\nstockade:x:997:alice,bob\n";
        assert_eq!(group_id(groups, "stockade"), Some(997));
        assert_eq!(group_id(groups, "root"), Some(0));
        assert_eq!(group_id(groups, "1234"), Some(1234));
        assert_eq!(group_id(groups, "nobody-here"), None);
    }

    #[test]
    fn a_token_file_must_be_private_and_not_empty() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (reason, mode) = read_token_file(&path).unwrap_err();
        assert_eq!(mode, Some(0o644), "{reason}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap_err().0, "is empty");
    }
}
