//! `[logs]` → [`LogsConfig`].

use super::table::{Reader, Table};
use crate::model::{LogsConfig, MIN_LOGS_MAX_SIZE};

pub(crate) const LOGS_KEYS: &[&str] = &["max_age", "max_size", "postmortem_retention"];

impl Reader<'_> {
    pub(crate) fn logs(&mut self, table: Option<&Table<'_, '_>>) -> LogsConfig {
        let mut config = LogsConfig::default();
        let Some(t) = table else { return config };
        config.max_age = self.positive_duration(t, "max_age").unwrap_or(config.max_age);
        config.postmortem_retention = self
            .positive_duration(t, "postmortem_retention")
            .unwrap_or(config.postmortem_retention);
        let text = t.get("max_size").and_then(|v| v.get_ref().as_str()).map(str::to_owned);
        if text.as_deref() != Some("unlimited")
            && let Some(size) = self.size(t, "max_size")
        {
            if size < MIN_LOGS_MAX_SIZE {
                let shown = text.map_or_else(|| size.to_string(), |s| format!("{s:?}"));
                self.out_of_range(t, "max_size", shown, "at least 1MiB (or \"unlimited\")");
            } else {
                config.max_size = Some(size);
            }
        }
        config
    }
}
