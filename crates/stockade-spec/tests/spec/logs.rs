//! `[logs]`: retention of run logs and post-mortems — defaults, values,
//! and errors placed at their line and column.

use std::time::Duration;

use stockade_spec::{LogsConfig, Problem};

use crate::{errors, parse_ok};

const DAY: Duration = Duration::from_secs(86_400);
const JOB: &str = "[job.j]\ncommand = [\"x\"]\n";

#[test]
fn defaults_keep_a_week_of_logs_unbounded_and_a_month_of_post_mortems() {
    let spec = parse_ok(JOB);
    assert_eq!(spec.logs, LogsConfig::default());
    assert_eq!(spec.logs.max_age, 7 * DAY);
    assert_eq!(spec.logs.max_size, None);
    assert_eq!(spec.logs.postmortem_retention, 30 * DAY);
}

#[test]
fn values_are_read() {
    let spec = parse_ok(&format!(
        "[logs]\nmax_age = \"36h\"\nmax_size = \"2GiB\"\npostmortem_retention = \"90d\"\n{JOB}"
    ));
    assert_eq!(spec.logs.max_age, Duration::from_secs(36 * 3600));
    assert_eq!(spec.logs.max_size, Some(2 << 30));
    assert_eq!(spec.logs.postmortem_retention, 90 * DAY);
    let spec = parse_ok(&format!("[logs]\nmax_size = \"unlimited\"\n{JOB}"));
    assert_eq!(spec.logs.max_size, None);
    let spec = parse_ok(&format!("[logs]\nmax_size = 1048576\n{JOB}"));
    assert_eq!(spec.logs.max_size, Some(1 << 20));
}

#[test]
fn unknown_keys_and_bad_values_are_placed() {
    let source = "[logs]\nmax_age = \"7 days\"\nmax_sise = \"1GiB\"\nmax_size = \"512KiB\"\npostmortem_retention = \"0s\"\n\n[job.j]\ncommand = [\"x\"]\n";
    let e = errors(source);
    let found: Vec<(String, Option<(usize, usize)>)> = e
        .diagnostics()
        .iter()
        .map(|d| {
            let kind = format!("{:?}", d.problem());
            (kind.split([' ', '{']).next().unwrap_or("").to_owned(), d.line_col())
        })
        .collect();
    assert_eq!(
        found,
        [
            ("BadDuration".to_owned(), Some((2, 11))),
            ("UnknownKey".to_owned(), Some((3, 1))),
            ("OutOfRange".to_owned(), Some((4, 12))),
            ("OutOfRange".to_owned(), Some((5, 24))),
        ],
        "{}",
        e.render()
    );
    let unknown = e.diagnostics()[1].problem();
    assert!(
        matches!(unknown, Problem::UnknownKey { suggestion: Some(s), .. } if s == "max_size"),
        "{unknown:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("`logs.max_size` must be at least 1MiB (or \"unlimited\"), got \"512KiB\""),
        "{text}"
    );
    assert!(text.contains("`logs.postmortem_retention` must be longer than zero"), "{text}");
    // `[logs]` must be a table.
    let e = errors(&format!("logs = 3\n{JOB}"));
    assert_eq!(e.diagnostics()[0].line_col(), Some((1, 8)), "{}", e.render());
}
