//! `every`, `cron`, `timezone`, `overlap`, `catch_up` and `args` of a job
//! template: what a good schedule becomes, and where `check` points at a bad one.

use std::time::Duration;

use stockade_spec::{CatchUp, Overlap, Problem, ScheduleError, ScheduleRule};

use crate::{one_error, parse_ok};

#[test]
fn every_with_defaults_and_cron_with_its_zone() {
    let spec = parse_ok(
        r#"
[job.cleanup]
command = ["cleanup"]
every = "10m"

[job.report]
command = ["report"]
cron = "*/10 * * * *"
timezone = "Europe/Berlin"
overlap = "queue"
catch_up = "one"
args = ["--daily"]
"#,
    );
    let every = spec.job("cleanup").unwrap().schedule.as_ref().unwrap();
    assert_eq!(every.rule, ScheduleRule::Every(Duration::from_secs(600)));
    assert_eq!((every.overlap, every.catch_up), (Overlap::Skip, CatchUp::None));
    let cron = spec.job("report").unwrap().schedule.as_ref().unwrap();
    assert_eq!(cron.describe(), "cron */10 * * * * (Europe/Berlin)");
    assert_eq!((cron.overlap, cron.catch_up), (Overlap::Queue, CatchUp::One));
    assert_eq!(cron.args, vec!["--daily".to_owned()]);
    assert!(parse_ok("[job.j]\ncommand = [\"x\"]\n").job("j").unwrap().schedule.is_none());
}

#[test]
fn a_bad_cron_is_placed_on_its_value() {
    let e = one_error("[job.j]\ncommand = [\"x\"]\ncron = \"*/10 * * *\"\n");
    let d = &e.diagnostics()[0];
    assert!(
        matches!(d.problem(), Problem::BadSchedule { source: ScheduleError::Cron(_), .. }),
        "{:?}",
        d.problem()
    );
    assert_eq!(d.line_col(), Some((3, 8)));
    insta::assert_snapshot!("bad_cron", e.render());
}

#[test]
fn a_cron_that_never_fires_is_refused() {
    let e = one_error("[job.j]\ncommand = [\"x\"]\ncron = \"0 0 30 2 *\"\n");
    assert!(
        matches!(
            e.diagnostics()[0].problem(),
            Problem::BadSchedule { source: ScheduleError::Never, .. }
        ),
        "{}",
        e.render()
    );
}

#[test]
fn an_unknown_timezone_is_placed_on_its_value() {
    let e = one_error(
        "[job.j]\ncommand = [\"x\"]\ncron = \"0 3 * * *\"\ntimezone = \"Europe/Berlinn\"\n",
    );
    let d = &e.diagnostics()[0];
    assert!(matches!(d.problem(), Problem::BadSchedule { source: ScheduleError::TimeZone(_), .. }));
    assert_eq!(d.line_col(), Some((4, 12)));
    insta::assert_snapshot!("bad_timezone", e.render());
}

#[test]
fn a_bad_zone_and_a_bad_cron_are_both_reported() {
    let e = crate::errors(
        "[job.j]\ncommand = [\"x\"]\ncron = \"*/10 * * *\"\ntimezone = \"Europe/Berlinn\"\n",
    );
    let places: Vec<_> = e.diagnostics().iter().map(|d| d.line_col()).collect();
    assert_eq!(places, vec![Some((3, 8)), Some((4, 12))], "{}", e.render());
}

#[test]
fn every_and_cron_together_are_refused() {
    let e = one_error("[job.j]\ncommand = [\"x\"]\nevery = \"1m\"\ncron = \"* * * * *\"\n");
    let d = &e.diagnostics()[0];
    assert!(matches!(d.problem(), Problem::Exclusive { other: "every", .. }), "{:?}", d.problem());
    assert_eq!(d.line_col(), Some((4, 8)));
}

#[test]
fn every_zero_is_out_of_range() {
    let e = one_error("[job.j]\ncommand = [\"x\"]\nevery = \"0s\"\n");
    let d = &e.diagnostics()[0];
    assert!(matches!(d.problem(), Problem::OutOfRange { .. }), "{:?}", d.problem());
    assert_eq!(d.line_col(), Some((3, 9)));
}

#[test]
fn schedule_keys_without_a_schedule_have_no_effect() {
    let e = one_error("[job.j]\ncommand = [\"x\"]\noverlap = \"allow\"\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::OnlyApplies { .. }));
    let e = one_error("[job.j]\ncommand = [\"x\"]\nevery = \"1m\"\ntimezone = \"UTC\"\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::OnlyApplies { .. }), "{}", e.render());
    let e = one_error("[job.j]\ncommand = [\"x\"]\nevery = \"1m\"\noverlap = \"sometimes\"\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::UnknownValue { .. }));
}
