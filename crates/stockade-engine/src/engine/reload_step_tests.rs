//! [`Engine::step`] with `Command::Reload`, driven directly (no store, no
//! launcher, no loop): which effects each kind of plan asks for.

use super::commit::{Done, Followup};
use super::{Effect, Engine, Input};
use crate::command::Command;
use crate::launcher::{RunEvent, RunEventKind};
use std::sync::Arc;
use stockade_proto::{EventKind, HostSnapshot, PlanAction, PlanUnit, RunId};
use stockade_spec::Spec;
use stockade_store::{Applied, Write};
use tokio::sync::oneshot;

const DB: &str = r#"
[service.db]
command = ["db"]
limits = { memory = "64MiB", pids = 16 }
"#;

fn spec(toml: &str) -> Spec {
    let path = std::path::Path::new("/nonexistent/stockade.toml");
    Spec::parse(toml, path, &|_| None).unwrap_or_else(|e| panic!("{}", e.render()))
}

/// An engine whose one service `db` runs as run 7.
fn running_db() -> Engine {
    let mut engine =
        Engine::new(Arc::new(spec(DB)), "fake".into(), vec![], Arc::new(HostSnapshot::default));
    let then = engine
        .step(Input::Tick)
        .into_iter()
        .find_map(|e| match e {
            Effect::Persist { then: then @ Followup::LaunchReplica { .. }, .. } => Some(then),
            _ => None,
        })
        .expect("db's run is journaled first");
    let done = Done { followup: then, result: Ok(vec![Applied::Run(RunId(7))]) };
    let effects = engine.step(Input::Committed(done));
    assert!(effects.iter().any(|e| matches!(e, Effect::Launch(r) if r.run == RunId(7))));
    engine.step(Input::Run(RunEvent { run: RunId(7), kind: RunEventKind::Started { pid: 42 } }));
    engine
}

fn reload(engine: &mut Engine, toml: &str, dry_run: bool) -> (Vec<Effect>, ReplyRx) {
    let (reply, answer) = oneshot::channel();
    let command = Command::Reload { spec: Arc::new(spec(toml)), dry_run, reply };
    (engine.step(Input::Command(command)), answer)
}

type ReplyRx = oneshot::Receiver<Result<stockade_proto::ReloadPlan, crate::EngineError>>;

fn journaled_reload(effects: &[Effect]) -> Option<String> {
    effects.iter().find_map(|e| match e {
        Effect::Persist { writes, .. } => writes.iter().find_map(|w| match w {
            Write::Event { kind: EventKind::SpecReloaded { summary, .. }, .. } => {
                Some(summary.clone())
            }
            _ => None,
        }),
        _ => None,
    })
}

#[tokio::test(start_paused = true)]
async fn a_limit_change_asks_for_set_limits_on_the_live_run_and_nothing_else() {
    let mut engine = running_db();
    let (effects, answer) = reload(&mut engine, &DB.replace("64MiB", "128MiB"), false);
    let mut set = None;
    for effect in effects.iter() {
        assert!(!matches!(effect, Effect::Stop { .. } | Effect::Launch(_)), "{effects:?}");
    }
    let mut effects = effects;
    for effect in effects.drain(..) {
        if let Effect::SetLimits { run, limits, reply } = effect {
            set = Some((run, limits, reply));
        } else if let Effect::Persist { writes, .. } = &effect {
            assert!(
                !writes.iter().any(|w| matches!(w, Write::StartRun(_))),
                "no new run: {writes:?}"
            );
        }
    }
    let (run, limits, reply) = set.expect("a SetLimits effect");
    assert_eq!(run, RunId(7));
    assert_eq!((limits.memory, limits.pids), (Some(128 << 20), Some(16)));
    reply.send(Ok(())).unwrap();
    let plan = answer.await.unwrap().unwrap();
    assert!(plan.applied);
    assert_eq!(plan.unit(PlanUnit::Service, "db").unwrap().action, PlanAction::Update);
    assert_eq!(
        plan.unit(PlanUnit::Service, "db")
            .unwrap()
            .note
            .as_deref()
            .map(|n| n.contains("not written")),
        Some(false)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_limit_write_is_noted_in_the_plan() {
    let mut engine = running_db();
    let (effects, answer) = reload(&mut engine, &DB.replace("64MiB", "32MiB"), false);
    for effect in effects {
        if let Effect::SetLimits { reply, .. } = effect {
            reply.send(Err("write memory.limit_in_bytes: device busy".into())).unwrap();
        }
    }
    let plan = answer.await.unwrap().unwrap();
    let note = plan.unit(PlanUnit::Service, "db").unwrap().note.clone().unwrap();
    assert!(note.contains("run 7: limits not written: write memory.limit_in_bytes"), "{note}");
}

#[tokio::test(start_paused = true)]
async fn a_command_change_stops_the_run_and_an_added_service_is_journaled_to_start() {
    let mut engine = running_db();
    let new =
        DB.replace(r#"["db"]"#, r#"["db", "--v2"]"#) + "\n[service.cache]\ncommand = [\"cache\"]\n";
    let (effects, mut answer) = reload(&mut engine, &new, false);
    let stops: Vec<RunId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Stop { run, .. } => Some(*run),
            _ => None,
        })
        .collect();
    assert_eq!(stops, [RunId(7)]);
    let started: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist { writes, .. } => Some(writes),
            _ => None,
        })
        .flatten()
        .filter_map(|w| match w {
            Write::StartRun(run) => Some(run.unit.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["cache"], "db waits for its stop; cache starts");
    assert_eq!(
        journaled_reload(&effects).as_deref(),
        Some("1 added, 0 removed, 0 updated, 1 restarted, 1 unchanged")
    );
    let plan = answer.try_recv().expect("answered at once: no limit writes").unwrap();
    assert!(plan.applied);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_and_an_empty_plan_ask_for_nothing() {
    let mut engine = running_db();
    let (effects, mut answer) = reload(&mut engine, &DB.replace("64MiB", "1GiB"), true);
    assert!(effects.is_empty(), "{effects:?}");
    let plan = answer.try_recv().unwrap().unwrap();
    assert!(!plan.applied);
    assert_eq!(plan.count(PlanAction::Update), 1);
    let (effects, mut answer) = reload(&mut engine, DB, false);
    assert!(effects.is_empty(), "{effects:?}");
    let plan = answer.try_recv().unwrap().unwrap();
    assert!(plan.is_empty() && !plan.applied);
}
