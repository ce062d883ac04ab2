//! `[alert.NAME]`: rules read with their labels, windows and `for`; bad rules
//! refused at `check` with their place and the valid choices.

use std::time::Duration;

use stockade_spec::{AlertOp, AlertSignal, Problem, PsiResource};

use crate::{errors, one_error, parse_ok};

const UNITS: &str = r#"
[service.worker]
command = ["x"]

[job.selfplay]
command = ["y"]
"#;

fn with_units(rules: &str) -> String {
    format!("{UNITS}\n{rules}")
}

#[test]
fn the_three_examples_of_the_issue_read_as_written() {
    let spec = parse_ok(&with_units(
        r#"
[alert.queue_idle]
signal = "queue_depth"
pool = "default"
op = "=="
value = 0
for = "10m"

[alert.flappy]
signal = "restarts"
service = "worker"
window = "1h"
op = ">"
value = 3

[alert.no_selfplay]
signal = "successes"
template = "selfplay"
window = "30m"
op = "=="
value = 0

[alert.low_memory]
signal = "headroom_memory"
op = "<"
value = "512MiB"
for = "1m"

[alert.io_stall]
signal = "psi_io_full"
op = ">="
value = 25.5
"#,
    ));
    let names: Vec<&str> = spec.alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["queue_idle", "flappy", "no_selfplay", "low_memory", "io_stall"]);
    let idle = &spec.alerts[0];
    assert_eq!(idle.signal, AlertSignal::QueueDepth { pool: "default".into() });
    assert_eq!((idle.op, idle.value, idle.window), (AlertOp::Eq, 0.0, None));
    assert_eq!(idle.for_, Duration::from_secs(600));
    let flappy = &spec.alerts[1];
    assert_eq!(flappy.signal, AlertSignal::Restarts { service: "worker".into() });
    assert_eq!((flappy.window, flappy.for_), (Some(Duration::from_secs(3600)), Duration::ZERO));
    assert_eq!(flappy.signal.to_string(), "restarts{service=worker}");
    assert_eq!(spec.alerts[2].signal, AlertSignal::Successes { template: "selfplay".into() });
    assert_eq!(spec.alerts[3].value, 512.0 * 1024.0 * 1024.0);
    let io = &spec.alerts[4].signal;
    assert_eq!(*io, AlertSignal::Psi { resource: PsiResource::Io, full: true });
}

#[test]
fn an_unknown_signal_names_every_valid_one_at_its_place() {
    let e = one_error(&with_units("[alert.a]\nsignal = \"queue_length\"\nop = \">\"\nvalue = 1\n"));
    let d = &e.diagnostics()[0];
    assert!(matches!(d.problem(), Problem::UnknownValue { .. }), "{e}");
    assert_eq!(d.line_col(), Some((9, 10)));
    let text = e.render();
    assert!(text.contains("`alert.a.signal` cannot be \"queue_length\""), "{text}");
    let e = one_error(&with_units("[alert.a]\nsignal = \"latency\"\nop = \">\"\nvalue = 1\n"));
    let text = e.render();
    for name in ["queue_depth", "restarts", "headroom_memory", "psi_io_full"] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn a_missing_or_unknown_label_is_an_error_naming_the_declared_units() {
    let e = one_error(&with_units(
        "[alert.a]\nsignal = \"restarts\"\nwindow = \"1m\"\nop = \">\"\nvalue = 2\n",
    ));
    assert!(
        matches!(e.diagnostics()[0].problem(), Problem::MissingAlertLabel { key: "service", .. }),
        "{e}"
    );
    assert!(e.render().contains("add service = \"NAME\", one of: worker"), "{}", e.render());
    assert_eq!(e.diagnostics()[0].line_col(), Some((8, 8)), "points at the table");
    let e = one_error(&with_units(
        "[alert.a]\nsignal = \"restarts\"\nservice = \"wroker\"\nwindow = \"1m\"\nop = \">\"\nvalue = 2\n",
    ));
    assert_eq!(e.diagnostics()[0].line_col(), Some((10, 11)));
    assert!(e.render().contains("did you mean `worker`?"), "{}", e.render());
    let e = one_error(&with_units(
        "[alert.a]\nsignal = \"failures\"\ntemplate = \"train\"\nwindow = \"1m\"\nop = \">\"\nvalue = 2\n",
    ));
    assert!(e.render().contains("job templates of this spec: selfplay"), "{}", e.render());
    let e = one_error(&with_units(
        "[alert.a]\nsignal = \"queue_depth\"\npool = \"gpu\"\nop = \">\"\nvalue = 2\n",
    ));
    assert!(e.to_string().contains("`alert.a.pool` = \"gpu\" is not a pool"), "{e}");
}

#[test]
fn windows_belong_to_counts_and_labels_to_their_signals() {
    let e = one_error(&with_units(
        "[alert.a]\nsignal = \"successes\"\ntemplate = \"selfplay\"\nop = \"==\"\nvalue = 0\n",
    ));
    assert!(
        matches!(e.diagnostics()[0].problem(), Problem::MissingKey { key: "window", .. }),
        "{e}"
    );
    let e = errors(&with_units(
        "[alert.a]\nsignal = \"queue_depth\"\npool = \"default\"\nservice = \"worker\"\nwindow = \"1m\"\nop = \">\"\nvalue = 2\n",
    ));
    assert_eq!(e.len(), 2, "{e}");
    assert!(e.diagnostics().iter().all(|d| matches!(d.problem(), Problem::OnlyApplies { .. })));
}

#[test]
fn bad_durations_ops_and_values_are_errors_with_their_place() {
    let e = errors(&with_units(
        "[alert.a]\nsignal = \"running\"\npool = \"default\"\nop = \"=\"\nvalue = \"lots\"\nfor = \"10 minutes\"\n",
    ));
    assert_eq!(e.len(), 3, "{e}");
    let places: Vec<_> = e.diagnostics().iter().map(|d| d.line_col().unwrap()).collect();
    assert_eq!(places, [(11, 6), (12, 9), (13, 7)]);
    let kinds: Vec<_> = e.diagnostics().iter().map(|d| d.problem().to_string()).collect();
    assert!(kinds[0].contains("`alert.a.op` cannot be \"=\""), "{kinds:?}");
    assert!(kinds[2].contains("invalid duration \"10 minutes\" for `alert.a.for`"), "{kinds:?}");
    let e = errors("[alert.a]\nop = \">\"\nvalue = 1\nthreshold = 3\n");
    assert_eq!(e.len(), 2, "an unknown key and no signal: {e}");
}

#[test]
fn bad_rule_errors_as_users_see_them() {
    let e = errors(&with_units(
        "[alert.flappy]\nsignal = \"restart\"\nservice = \"worker\"\nwindow = \"1h\"\nop = \">\"\nvalue = 3\n\n[alert.idle]\nsignal = \"queue_depth\"\nop = \"==\"\nvalue = 0\nfor = \"10x\"\n",
    ));
    insta::assert_snapshot!("bad_alert_rules", e.render());
}
