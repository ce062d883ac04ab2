//! The committed files: the starter spec, every example, the JSON schema.

use std::path::{Path, PathBuf};

use stockade_spec::{STARTER_SPEC, Spec, json_schema};

use crate::parse_ok;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_starter_spec_parses_cleanly() {
    let spec = parse_ok(STARTER_SPEC);
    assert!(!spec.services.is_empty(), "the starter shows services");
    assert!(!spec.jobs.is_empty(), "the starter shows a job template");
    assert!(spec.pools.contains_key("default"));
    assert_eq!(spec.start_order(), ["ticker", "worker"]);
}

#[test]
fn every_example_spec_parses() {
    let examples = repo_root().join("examples");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&examples).expect("examples/ exists") {
        let path = entry.expect("readable examples/").path().join("stockade.toml");
        if !path.exists() {
            continue;
        }
        match Spec::from_file(&path) {
            Ok(spec) => {
                assert_eq!(spec.base_dir, std::path::absolute(path.parent().unwrap()).unwrap());
                seen.push(
                    path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned(),
                );
            }
            Err(e) => panic!("{} does not parse:\n{}", path.display(), e.render()),
        }
    }
    seen.sort();
    assert!(
        seen.contains(&"quickstart".to_owned()) && seen.contains(&"traitorsim".to_owned()),
        "{seen:?}"
    );
}

#[test]
fn traitorsim_players_get_distinct_ports_and_pids_limits() {
    let spec = Spec::from_file(&repo_root().join("examples/traitorsim/stockade.toml")).unwrap();
    let player = spec.service("player").unwrap();
    assert_eq!(player.replicas, 22);
    assert_eq!(player.limits.pids, Some(32));
    let ports: std::collections::BTreeSet<String> =
        (0..player.replicas).map(|i| player.for_replica(i).command[3].clone()).collect();
    assert_eq!(ports.len(), 22);
    assert_eq!(spec.start_order(), ["orchestrator", "player"]);
}

#[test]
fn a_missing_file_is_a_read_problem_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let e = Spec::from_file(&dir.path().join("nope.toml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(matches!(e.diagnostics()[0].problem(), stockade_spec::Problem::Read { .. }));
    assert!(e.to_string().contains("stockade init"), "{e}");
}

#[test]
fn from_file_resolves_paths_against_the_file_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stockade.toml");
    std::fs::write(
        &path,
        "[daemon]\nstate_dir = \"st\"\n[service.a]\ncommand = [\"x\"]\ncwd = \"work\"\n",
    )
    .unwrap();
    let spec = Spec::from_file(&path).unwrap();
    assert_eq!(spec.daemon.state_dir, dir.path().join("st"));
    assert_eq!(spec.daemon.socket_path(), Some(dir.path().join("st/stockade.sock").as_path()));
    assert_eq!(spec.service("a").unwrap().cwd, Some(dir.path().join("work")));
}

/// The committed schema is what the types generate. To update it:
/// `STOCKADE_BLESS=1 cargo nextest run -p stockade-spec schema`.
#[test]
fn the_committed_json_schema_is_current() {
    let path = repo_root().join("schema/stockade.schema.json");
    let generated = format!("{}\n", serde_json::to_string_pretty(&json_schema()).unwrap());
    if std::env::var_os("STOCKADE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/stockade.schema.json is out of date; regenerate it with\n  \
         STOCKADE_BLESS=1 cargo nextest run -p stockade-spec schema"
    );
}
