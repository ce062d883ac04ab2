//! `[monitor]` → [`MonitorConfig`].

use std::time::Duration;

use toml::de::DeValue;

use super::table::{Reader, Table};
use crate::model::{
    DEFAULT_HYSTERESIS_PERCENT, DEFAULT_WEBHOOK_ATTEMPTS, DEFAULT_WEBHOOK_BACKOFF,
    DEFAULT_WEBHOOK_QUEUE, DEFAULT_WEBHOOK_TIMEOUT, MonitorConfig, Thresholds, WebhookConfig,
    parse_http_url,
};
use crate::problem::Problem;

pub(crate) const MONITOR_KEYS: &[&str] = &[
    "enabled",
    "interval",
    "warning",
    "critical",
    "hysteresis",
    "max_restarts",
    "restart_window",
    "leak_horizon",
    "leak_min_span",
    "webhook",
    "webhook_token_env",
    "webhook_timeout",
    "webhook_attempts",
    "webhook_backoff",
    "webhook_queue",
];

/// Keys that mean nothing without `webhook`.
const WEBHOOK_ONLY: &[&str] = &[
    "webhook_token_env",
    "webhook_timeout",
    "webhook_attempts",
    "webhook_backoff",
    "webhook_queue",
];

/// Sampling faster than this costs more than it tells: cgroup counters and
/// PSI move on a scale of a second.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Retries beyond this only delay the queue behind a dead receiver.
const MAX_WEBHOOK_ATTEMPTS: u32 = 20;

impl Reader<'_> {
    pub(crate) fn monitor(&mut self, table: Option<&Table<'_, '_>>) -> MonitorConfig {
        let mut config = MonitorConfig::default();
        let Some(t) = table else { return config };
        config.enabled = self.boolean(t, "enabled").unwrap_or(config.enabled);
        if let Some(interval) = self.positive_duration(t, "interval") {
            if interval < MIN_INTERVAL {
                self.out_of_range(t, "interval", format!("{interval:?}"), "at least 100ms");
            } else {
                config.interval = interval;
            }
        }
        config.thresholds = self.thresholds(t);
        config.max_restarts = self.count(t, "max_restarts").unwrap_or(config.max_restarts);
        config.restart_window =
            self.positive_duration(t, "restart_window").unwrap_or(config.restart_window);
        config.leak_horizon =
            self.positive_duration(t, "leak_horizon").unwrap_or(config.leak_horizon);
        config.leak_min_span =
            self.positive_duration(t, "leak_min_span").unwrap_or(config.leak_min_span);
        config.webhook = self.webhook(t);
        config
    }

    fn thresholds(&mut self, t: &Table<'_, '_>) -> Thresholds {
        let defaults = Thresholds::default();
        let percent = |reader: &mut Self, key: &str, default: f64| match reader.number(t, key) {
            Some(n) if n > 0.0 && n <= 100.0 => n,
            Some(n) => {
                reader.out_of_range(t, key, n, "a percentage above 0 and at most 100");
                default
            }
            None => default,
        };
        let warning = percent(self, "warning", defaults.warning);
        let critical = percent(self, "critical", defaults.critical);
        if critical <= warning {
            let shown = format!("{critical} (warning is {warning})");
            self.out_of_range(t, "critical", shown, "above `warning`");
            return defaults;
        }
        let hysteresis = match self.number(t, "hysteresis") {
            Some(h) if (0.0..warning).contains(&h) => h,
            Some(h) => {
                let expected = format!("at least 0 and below `warning` ({warning})");
                self.out_of_range(t, "hysteresis", h, &expected);
                DEFAULT_HYSTERESIS_PERCENT.min(warning / 2.0)
            }
            None => DEFAULT_HYSTERESIS_PERCENT.min(warning / 2.0),
        };
        Thresholds { warning, critical, clear: warning - hysteresis }
    }

    fn webhook(&mut self, t: &Table<'_, '_>) -> Option<WebhookConfig> {
        let Some(url) = self.string(t, "webhook") else {
            for key in WEBHOOK_ONLY {
                if t.get(key).is_some() {
                    let problem =
                        Problem::OnlyApplies { key: t.key(key), when: "when `webhook` is set" };
                    self.report(problem, t.span_of(key));
                }
            }
            return None;
        };
        let parts = match parse_http_url(&url) {
            Ok(parts) => Some(parts),
            Err(reason) => {
                let expected = format!("a plain http:// URL ({reason})");
                self.out_of_range(t, "webhook", format!("{url:?}"), &expected);
                None
            }
        };
        let token = self.string(t, "webhook_token_env").and_then(|var| {
            match (self.env)(&var).filter(|v| !v.is_empty()) {
                Some(token) => Some(token),
                None => {
                    self.report(Problem::TokenEnvUnset { var }, t.span_of("webhook_token_env"));
                    None
                }
            }
        });
        let timeout =
            self.positive_duration(t, "webhook_timeout").unwrap_or(DEFAULT_WEBHOOK_TIMEOUT);
        let attempts = match self.count(t, "webhook_attempts") {
            Some(n) if n > MAX_WEBHOOK_ATTEMPTS => {
                self.out_of_range(t, "webhook_attempts", n, "at most 20");
                DEFAULT_WEBHOOK_ATTEMPTS
            }
            Some(n) => n,
            None => DEFAULT_WEBHOOK_ATTEMPTS,
        };
        let backoff =
            self.positive_duration(t, "webhook_backoff").unwrap_or(DEFAULT_WEBHOOK_BACKOFF);
        let queue = self.count(t, "webhook_queue").unwrap_or(DEFAULT_WEBHOOK_QUEUE);
        let (host, port, path) = parts?;
        Some(WebhookConfig { url, host, port, path, token, timeout, attempts, backoff, queue })
    }

    fn boolean(&mut self, t: &Table<'_, '_>, key: &str) -> Option<bool> {
        let value = t.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                let problem = Problem::WrongType {
                    key: t.key(key),
                    expected: "true or false",
                    found: other.type_str(),
                };
                self.report(problem, value.span());
                None
            }
        }
    }
}
