//! `[monitor]`: defaults without the table, every key read, bad values refused
//! with their place.

use std::time::Duration;

use stockade_spec::{MonitorConfig, Problem, Thresholds};

use crate::{errors, parse_ok, parse_with_env};

#[test]
fn without_the_table_monitoring_is_on_with_defaults_and_no_webhook() {
    let spec = parse_ok("[service.a]\ncommand = [\"x\"]\n");
    assert_eq!(spec.monitor, MonitorConfig::default());
    assert!(spec.monitor.enabled);
    assert_eq!(spec.monitor.interval, Duration::from_secs(5));
    assert_eq!(spec.monitor.thresholds, Thresholds { warning: 80.0, critical: 95.0, clear: 70.0 });
    assert_eq!((spec.monitor.max_restarts, spec.monitor.restart_window.as_secs()), (3, 3600));
    assert!(spec.monitor.webhook.is_none());
}

#[test]
fn every_key_lands_where_it_should() {
    let source = r#"
[monitor]
enabled = true
interval = "250ms"
warning = 60
critical = 90.5
hysteresis = 5
max_restarts = 10
restart_window = "10m"
webhook = "http://127.0.0.1:9000/hooks/stockade?x=1"
webhook_token_env = "HOOK_TOKEN"
webhook_timeout = "2s"
webhook_attempts = 3
webhook_backoff = "200ms"
webhook_queue = 50
"#;
    let spec = parse_with_env(source, &[("HOOK_TOKEN", "s3cret")]).unwrap();
    let m = spec.monitor;
    assert_eq!(m.interval, Duration::from_millis(250));
    assert_eq!(m.thresholds, Thresholds { warning: 60.0, critical: 90.5, clear: 55.0 });
    assert_eq!((m.max_restarts, m.restart_window), (10, Duration::from_secs(600)));
    let hook = m.webhook.expect("webhook configured");
    assert_eq!((hook.host.as_str(), hook.port), ("127.0.0.1", 9000));
    assert_eq!(hook.path, "/hooks/stockade?x=1");
    assert_eq!(hook.token.as_deref(), Some("s3cret"));
    assert_eq!((hook.timeout, hook.attempts), (Duration::from_secs(2), 3));
    assert_eq!((hook.backoff, hook.queue), (Duration::from_millis(200), 50));
}

#[test]
fn monitoring_can_be_switched_off() {
    let spec = parse_ok("[monitor]\nenabled = false\n");
    assert!(!spec.monitor.enabled);
}

#[test]
fn thresholds_must_be_ordered_percentages() {
    let e = errors("[monitor]\nwarning = 0\ncritical = 120\n");
    assert_eq!(e.len(), 2, "{e}");
    assert!(e.diagnostics().iter().all(|d| matches!(d.problem(), Problem::OutOfRange { .. })));
    let e = errors("[monitor]\nwarning = 90\ncritical = 85\n");
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!(e.diagnostics()[0].line_col(), Some((3, 12)), "points at critical");
    let e = errors("[monitor]\nwarning = 50\nhysteresis = 50\n");
    assert!(e.to_string().contains("hysteresis"), "{e}");
}

#[test]
fn bad_webhooks_are_refused_with_the_reason() {
    let e = errors("[monitor]\nwebhook = \"https://hooks.example/x\"\n");
    assert_eq!(e.len(), 1, "{e}");
    let text = e.render();
    assert!(text.contains("https is not supported"), "{text}");
    let e = errors("[monitor]\nwebhook = \"http://h:1/\"\nwebhook_token_env = \"NOPE\"\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::TokenEnvUnset { .. }), "{e}");
    let e = errors("[monitor]\nwebhook_attempts = 3\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::OnlyApplies { .. }), "{e}");
    let e = errors("[monitor]\nwebhook = \"http://h:1/\"\nwebhook_attempts = 100\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::OutOfRange { .. }), "{e}");
}

#[test]
fn odd_monitor_values_are_errors() {
    let e = errors(
        "[monitor]\nenabled = \"yes\"\ninterval = \"10ms\"\nmax_restarts = 0\nwebhok = \"http://h/\"\n",
    );
    assert_eq!(e.len(), 4, "{e}");
    assert!(e.render().contains("did you mean `webhook`?"), "{}", e.render());
}
