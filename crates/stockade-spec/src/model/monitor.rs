//! `[monitor]`: usage thresholds, the restart-rate alert and the webhook.

use std::time::Duration;

/// Default `interval`: how often the usage of every live box is sampled.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(5);
/// Default `warning`: percent of a limit that raises a warning alert.
pub const DEFAULT_WARNING_PERCENT: f64 = 80.0;
/// Default `critical`: percent of a limit that raises a critical alert.
pub const DEFAULT_CRITICAL_PERCENT: f64 = 95.0;
/// Default `hysteresis`: an alert clears only below `warning` minus this many
/// percentage points, so a value hovering at the threshold alerts once.
pub const DEFAULT_HYSTERESIS_PERCENT: f64 = 10.0;
/// Default `max_restarts`: more restarts of one service than this within
/// `restart_window` raise an alert.
pub const DEFAULT_MAX_RESTARTS: u32 = 3;
/// Default `restart_window`.
pub const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(3600);
/// Default `leak_horizon`: a service replica whose memory trend reaches its
/// limit within this long raises a leak alert.
pub const DEFAULT_LEAK_HORIZON: Duration = Duration::from_secs(6 * 3600);
/// Default `leak_min_span`: a memory trend is judged only once its samples
/// span this long (longer than a garbage collector's cycle).
pub const DEFAULT_LEAK_MIN_SPAN: Duration = Duration::from_secs(600);
/// Default `webhook_timeout`: one delivery attempt gives up after this long.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `webhook_attempts`: deliveries tried per event before it is dropped.
pub const DEFAULT_WEBHOOK_ATTEMPTS: u32 = 5;
/// Default `webhook_backoff`: the delay before the first retry, doubled after each.
pub const DEFAULT_WEBHOOK_BACKOFF: Duration = Duration::from_secs(1);
/// Default `webhook_queue`: events waiting for delivery; beyond it the oldest is dropped.
pub const DEFAULT_WEBHOOK_QUEUE: u32 = 1000;

/// The validated `[monitor]` table. Without the table, monitoring is on with
/// these defaults and no webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Whether usage and restart rates are watched at all.
    pub enabled: bool,
    /// Time between usage samples.
    pub interval: Duration,
    /// Usage thresholds, in percent of each box's limit.
    pub thresholds: Thresholds,
    /// More than `max_restarts` restarts of one service within `restart_window`
    /// raise a warning alert.
    pub max_restarts: u32,
    /// The window of the restart-rate alert.
    pub restart_window: Duration,
    /// The leak detector's horizon: a replica whose memory trend reaches its
    /// limit within this long raises a leak alert.
    pub leak_horizon: Duration,
    /// A memory trend is judged only once its samples span this long.
    pub leak_min_span: Duration,
    /// Where alerts and abnormal exits are POSTed, if anywhere.
    pub webhook: Option<WebhookConfig>,
}

/// Usage thresholds in percent of a limit (cpu of the `cpus` quota, memory of
/// `memory`, tasks of `pids`). Invariant: `clear < warning < critical`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// At or above: warning.
    pub warning: f64,
    /// At or above: critical.
    pub critical: f64,
    /// Below: cleared (`warning - hysteresis`).
    pub clear: f64,
}

/// Where and how alerts are delivered: a plain-HTTP POST of the event as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// The URL as written.
    pub url: String,
    /// Host name or IP (IPv6 in brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Sent as `Authorization: Bearer <token>` (from `webhook_token_env`).
    pub token: Option<String>,
    /// One attempt gives up after this long.
    pub timeout: Duration,
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubled after each, capped at a minute.
    pub backoff: Duration,
    /// Events waiting for delivery at most; beyond it the oldest is dropped.
    pub queue: u32,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            enabled: true,
            interval: DEFAULT_MONITOR_INTERVAL,
            thresholds: Thresholds::default(),
            max_restarts: DEFAULT_MAX_RESTARTS,
            restart_window: DEFAULT_RESTART_WINDOW,
            leak_horizon: DEFAULT_LEAK_HORIZON,
            leak_min_span: DEFAULT_LEAK_MIN_SPAN,
            webhook: None,
        }
    }
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            warning: DEFAULT_WARNING_PERCENT,
            critical: DEFAULT_CRITICAL_PERCENT,
            clear: DEFAULT_WARNING_PERCENT - DEFAULT_HYSTERESIS_PERCENT,
        }
    }
}
