//! The full state × input table of [`JobLife::transition`].

use super::*;
use std::time::Duration;

fn states(now: Instant) -> Vec<(&'static str, JobLife)> {
    let run = RunId(7);
    let stopping = |why| JobLife::Stopping { run, pid: Some(1), started_at: Some(5), why };
    vec![
        ("Q", JobLife::queued(now, None)),
        ("L", JobLife::Launching { box_name: "b".into(), stop: None }),
        ("Lc", JobLife::Launching { box_name: "b".into(), stop: Some(StopWhy::Cancel) }),
        ("Ls", JobLife::Launching { box_name: "b".into(), stop: Some(StopWhy::Shutdown) }),
        ("R", JobLife::Running { run, pid: None, started_at: Some(5), deadline: None }),
        ("Sc", stopping(StopWhy::Cancel)),
        ("Ss", stopping(StopWhy::Shutdown)),
        ("St", stopping(StopWhy::Timeout)),
        ("D", JobLife::Done { to: JobState::Succeeded, outcome: Some(Outcome::Success) }),
    ]
}

fn inputs(now: Instant) -> Vec<JobInput> {
    let later = now + Duration::from_secs(1);
    vec![
        JobInput::Admit { box_name: "b".into() },
        JobInput::Journaled { run: RunId(7), started_at: Some(5), deadline: None },
        JobInput::JournalFailed { now, retry_at: later },
        JobInput::Started { pid: 1 },
        JobInput::Stop(StopWhy::Cancel),
        JobInput::Stop(StopWhy::Shutdown),
        JobInput::Stop(StopWhy::Timeout),
        JobInput::Expire,
        JobInput::Ended(End::Requeue { now, retry_at: later }),
        JobInput::Ended(End::Finish { to: JobState::Failed, outcome: Outcome::Failure }),
    ]
}

/// A short name for a state after a move: the table's row names, plus `D:<state>`.
fn short(life: &JobLife) -> String {
    match life {
        JobLife::Queued { .. } => "Q".into(),
        JobLife::Launching { stop: None, .. } => "L".into(),
        JobLife::Launching { stop: Some(StopWhy::Cancel), .. } => "Lc".into(),
        JobLife::Launching { stop: Some(StopWhy::Shutdown), .. } => "Ls".into(),
        JobLife::Launching { stop: Some(StopWhy::Timeout), .. } => "Lt".into(),
        JobLife::Running { .. } => "R".into(),
        JobLife::Stopping { why: StopWhy::Cancel, .. } => "Sc".into(),
        JobLife::Stopping { why: StopWhy::Shutdown, .. } => "Ss".into(),
        JobLife::Stopping { why: StopWhy::Timeout, .. } => "St".into(),
        JobLife::Done { to, .. } => format!("D:{to}"),
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Stay => "stay",
        Step::Journal { .. } => "journal",
        Step::JournalStart => "start",
        Step::Launch { .. } => "launch",
        Step::EndUnlaunched { .. } => "unlaunched",
        Step::Stop { .. } => "stop",
        Step::Requeue => "requeue",
    }
}

#[tokio::test(start_paused = true)]
async fn transition_table_is_exactly_this() {
    // Columns: admit, journaled, journal_failed, started, cancel, shutdown,
    // timeout, expire, ended_requeue, ended_finish. `-` is illegal.
    #[rustfmt::skip]
    let table: &[(&str, [&str; 10])] = &[
        ("Q",  ["L start", "-", "-", "-", "D:cancelled journal", "Q stay", "-", "D:expired journal", "-", "-"]),
        ("L",  ["-", "R launch", "Q requeue", "-", "Lc stay", "Ls stay", "-", "-", "-", "-"]),
        ("Lc", ["-", "Sc unlaunched", "Q requeue", "-", "Lc stay", "Lc stay", "-", "-", "-", "-"]),
        ("Ls", ["-", "Ss unlaunched", "Q requeue", "-", "Lc stay", "Ls stay", "-", "-", "-", "-"]),
        ("R",  ["-", "-", "-", "R stay", "Sc stop", "Ss stop", "St stop", "-", "Q journal", "D:failed journal"]),
        ("Sc", ["-", "-", "-", "Sc stay", "Sc stay", "Sc stay", "Sc stay", "-", "Q journal", "D:failed journal"]),
        ("Ss", ["-", "-", "-", "Ss stay", "Sc stay", "Ss stay", "Ss stay", "-", "Q journal", "D:failed journal"]),
        ("St", ["-", "-", "-", "St stay", "Sc stay", "St stay", "St stay", "-", "Q journal", "D:failed journal"]),
        ("D",  ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-"]),
    ];
    let now = Instant::now();
    let all = states(now);
    assert_eq!(all.len(), table.len());
    for ((name, state), (row, expected)) in all.into_iter().zip(table) {
        assert_eq!(name, *row);
        for (input, want) in inputs(now).into_iter().zip(expected) {
            let mut life = state.clone();
            let shown = format!("{input:?}");
            let got = match life.transition(input) {
                Ok(step) => format!("{} {}", short(&life), step_name(&step)),
                Err(e) => {
                    assert_eq!(life, state, "an illegal move changes nothing");
                    assert_eq!(e.from, state.name());
                    "-".into()
                }
            };
            assert_eq!(got, *want, "{name} + {shown}");
        }
    }
}

#[test]
fn an_illegal_move_names_both_sides() {
    let mut life = JobLife::Done { to: JobState::Succeeded, outcome: Some(Outcome::Success) };
    let err = life.transition(JobInput::Stop(StopWhy::Cancel)).unwrap_err();
    assert_eq!(err.to_string(), "a job that is done cannot take cancel");
}

#[tokio::test(start_paused = true)]
async fn moves_carry_their_data() {
    let now = Instant::now();
    let mut life = JobLife::queued(now, None);
    life.transition(JobInput::Admit { box_name: "t.j1.1-1".into() }).unwrap();
    let step = life
        .transition(JobInput::Journaled { run: RunId(3), started_at: Some(9), deadline: Some(now) })
        .unwrap();
    assert_eq!(step, Step::Launch { run: RunId(3) });
    life.transition(JobInput::Started { pid: 42 }).unwrap();
    assert_eq!((life.run(), life.pid(), life.started_at()), (Some(RunId(3)), Some(42), Some(9)));
    let step = life.transition(JobInput::Stop(StopWhy::Timeout)).unwrap();
    assert_eq!(step, Step::Stop { run: RunId(3), reason: StopReason::Timeout });
    assert_eq!((life.pid(), life.stopping()), (Some(42), Some(StopWhy::Timeout)));
    let step = life
        .transition(JobInput::Ended(End::Finish {
            to: JobState::Failed,
            outcome: Outcome::Failure,
        }))
        .unwrap();
    assert_eq!(step, Step::Journal { from: JobState::Running, to: JobState::Failed });
    assert_eq!(life.public(), None, "a done job shows its committed record");
}
