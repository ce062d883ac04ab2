//! `[cluster]` → [`ClusterConfig`].

use super::table::{Reader, Table};
use crate::model::{ClusterConfig, STOCKADE_DATABASE};
use crate::problem::Problem;

pub(crate) const CLUSTER_KEYS: &[&str] =
    &["database", "host", "heartbeat", "stop_after", "lost_after", "max_clock_skew", "poll"];

impl Reader<'_> {
    /// The table, or `$STOCKADE_DATABASE` alone; `None`: one host.
    pub(crate) fn cluster(&mut self, table: Option<&Table<'_, '_>>) -> Option<ClusterConfig> {
        let from_env = (self.env)(STOCKADE_DATABASE).filter(|v| !v.trim().is_empty());
        let Some(t) = table else { return from_env.map(ClusterConfig::new) };
        let database = match self.string(t, "database").or(from_env) {
            Some(url) => url,
            None => {
                let problem = Problem::OutOfRange {
                    key: t.key("database"),
                    value: "nothing".to_owned(),
                    expected: format!("a postgres:// URL here or in ${STOCKADE_DATABASE}"),
                };
                self.report(problem, t.span_of("database"));
                return None;
            }
        };
        let looks_right = database.starts_with("postgres://")
            || database.starts_with("postgresql://")
            || database.contains('=');
        if !looks_right {
            let value = format!("{:?}", crate::model::redact(&database));
            let expected = "a postgres:// URL or libpq key=value pairs";
            self.out_of_range(t, "database", value, expected);
            return None;
        }
        let mut config = ClusterConfig::new(database);
        if let Some(host) = self.string(t, "host") {
            if host.is_empty()
                || host.len() > 64
                || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                let expected = "1 to 64 letters, digits, '-', '_' or '.'";
                self.out_of_range(t, "host", format!("{host:?}"), expected);
            } else {
                config.host = Some(host);
            }
        }
        config.heartbeat = self.positive_duration(t, "heartbeat").unwrap_or(config.heartbeat);
        config.stop_after = self.positive_duration(t, "stop_after").unwrap_or(config.stop_after);
        config.lost_after = self.positive_duration(t, "lost_after").unwrap_or(config.lost_after);
        config.max_clock_skew = self.duration(t, "max_clock_skew").unwrap_or(config.max_clock_skew);
        config.poll = self.positive_duration(t, "poll").unwrap_or(config.poll);
        if let Some(why) = config.unsafe_leases() {
            let key = if t.get("stop_after").is_some() { "stop_after" } else { "lost_after" };
            let shown = format!("{:?}", config.stop_after);
            self.out_of_range(t, key, shown, &format!("a safe lease: {why}"));
            return None;
        }
        Some(config)
    }
}
