//! The box keys: `isolation`, `user`, `network`, `rootfs`, `tmp`, `mounts`,
//! `env_file`, `inherit_env`, `submit_env`, and `[daemon]`'s `id_range`,
//! `socket_group` and `token_file` — values, defaults and errors against real
//! files in a tempdir.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use stockade_spec::{
    DEFAULT_ID_RANGE, DEFAULT_TMP_SIZE, EnvPattern, IdRange, Isolation, MountSpec, NetworkMode,
    Problem, Spec, SpecError, UserSpec, WallsSpec,
};

/// A spec written into `dir` (so relative paths resolve there), parsed.
fn parse_in(dir: &Path, source: &str) -> Result<Spec, SpecError> {
    let path = dir.join("stockade.toml");
    std::fs::write(&path, source).unwrap();
    Spec::parse(source, &path, &|_| None)
}

fn ok_in(dir: &Path, source: &str) -> Spec {
    parse_in(dir, source).unwrap_or_else(|e| panic!("{}", e.render()))
}

fn err_in(dir: &Path, source: &str) -> SpecError {
    match parse_in(dir, source) {
        Ok(_) => panic!("expected errors for:\n{source}"),
        Err(e) => e,
    }
}

/// A tiny root filesystem holding `/bin/agent` and `/usr/bin/tool`.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for file in ["bin/agent", "usr/bin/tool"] {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    root
}

#[test]
fn every_unit_is_walled_by_default_with_the_documented_defaults() {
    let spec = crate::parse_ok("[service.a]\ncommand = [\"x\"]\n[job.j]\ncommand = [\"y\"]\n");
    let want = Isolation::Walls(WallsSpec {
        user: None,
        network: NetworkMode::Host,
        rootfs: None,
        tmp: DEFAULT_TMP_SIZE,
        mounts: vec![],
    });
    assert_eq!(spec.service("a").unwrap().isolation, want);
    assert_eq!(spec.job("j").unwrap().isolation, want);
    assert!(
        spec.job("j").unwrap().submit_env.is_empty(),
        "a submission may set nothing by default"
    );
    assert_eq!(spec.daemon.id_range, DEFAULT_ID_RANGE);
    assert_eq!(spec.daemon.socket_group, None);
}

#[test]
fn walls_keys_are_read_and_units_override_defaults_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = rootfs(dir.path());
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let spec = ok_in(
        dir.path(),
        r#"
[defaults]
network = "none"
tmp = "64MiB"
inherit_env = ["AWS_*", "LANG"]

[service.a]
command = ["agent"]
rootfs = "rootfs"
user = "agent"
mounts = [{ source = "data", target = "/data", read_only = true }, { source = ".", target = "/srv/app" }]

[service.legacy]
command = ["x"]
isolation = "none"

[job.j]
command = ["tool", "--run"]
rootfs = "rootfs"
user = 1000
network = "host"
inherit_env = []
"#,
    );
    let a = spec.service("a").unwrap();
    let walls = a.isolation.walls().unwrap();
    assert_eq!(walls.user, Some(UserSpec::Name("agent".into())));
    assert_eq!(walls.network, NetworkMode::None, "from [defaults]");
    assert_eq!(walls.tmp, 64 << 20);
    assert_eq!(walls.rootfs.as_deref(), Some(root.as_path()));
    assert_eq!(
        walls.mounts,
        vec![
            MountSpec { source: dir.path().join("data"), target: "/data".into(), read_only: true },
            MountSpec { source: dir.path().join("."), target: "/srv/app".into(), read_only: false },
        ]
    );
    assert_eq!(
        a.inherit_env,
        vec![EnvPattern::Prefix("AWS_".into()), EnvPattern::Name("LANG".into())]
    );
    assert_eq!(spec.service("legacy").unwrap().isolation, Isolation::None);
    assert_eq!(spec.service("legacy").unwrap().isolation.name(), "none");
    let j = spec.job("j").unwrap();
    assert_eq!(j.isolation.walls().unwrap().user, Some(UserSpec::Id(1000)));
    assert_eq!(j.isolation.walls().unwrap().network, NetworkMode::Host, "the unit wins");
    assert!(j.inherit_env.is_empty(), "an empty list replaces the default's");
}

#[test]
fn a_missing_rootfs_and_a_program_it_lacks_are_named_at_check_time() {
    let dir = tempfile::tempdir().unwrap();
    rootfs(dir.path());
    let e = err_in(
        dir.path(),
        "[service.a]\ncommand = [\"x\"]\nrootfs = \"nope\"\n\
         [service.b]\ncommand = [\"python3\", \"a.py\"]\nrootfs = \"rootfs\"\n\
         [service.c]\ncommand = [\"/opt/missing\"]\nrootfs = \"rootfs\"\n\
         [service.d]\ncommand = [\"/bin/agent\"]\nrootfs = \"rootfs\"\n",
    );
    assert_eq!(e.len(), 3, "{}", e.render());
    let text = e.render();
    assert!(
        text.contains("rootfs") && text.contains("nope") && text.contains("does not exist"),
        "{text}"
    );
    assert!(text.contains("`python3` is not in the rootfs"), "{text}");
    assert!(text.contains("PATH=/usr/local/sbin"), "{text}");
    assert!(text.contains("`/opt/missing` is not in the rootfs"), "{text}");
    let (line, _) = e.diagnostics()[1].line_col().unwrap();
    assert_eq!(line, 5, "points at service.b's command");
}

#[test]
fn mounts_need_an_existing_source_and_a_clean_absolute_target() {
    let dir = tempfile::tempdir().unwrap();
    let e = err_in(
        dir.path(),
        "[service.a]\ncommand = [\"x\"]\nmounts = [\n  { source = \"gone\", target = \"/data\" },\n  { source = \".\", target = \"rel\" },\n  { source = \".\", target = \"/\" },\n  { source = \".\", target = \"/a/../etc\" },\n  { source = \".\", target = \"/x\", readonly = true },\n]\n",
    );
    assert_eq!(e.len(), 5, "{}", e.render());
    let text = e.to_string();
    assert!(
        text.contains("mount source") && text.contains("gone") && text.contains("does not exist"),
        "{text}"
    );
    assert!(text.contains("\"rel\"") && text.contains("is not absolute"), "{text}");
    assert!(text.contains("is the root"), "{text}");
    assert!(text.contains("contains `..`"), "{text}");
    assert!(e.render().contains("did you mean `read_only`?"), "{}", e.render());
    assert_eq!(e.diagnostics()[0].line_col().unwrap().0, 4);
}

#[test]
fn env_files_are_read_and_a_bad_line_is_numbered() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agent.env"), "# keys\nMODEL=small\n\nTOKEN=a=b\n").unwrap();
    std::fs::write(dir.path().join("bad.env"), "A=1\nthis is not a pair\n").unwrap();
    let spec = ok_in(dir.path(), "[service.a]\ncommand = [\"x\"]\nenv_file = \"agent.env\"\n");
    let file = spec.service("a").unwrap().env_file.clone().unwrap();
    assert_eq!(file.path, dir.path().join("agent.env"));
    assert_eq!(file.vars, vec![("MODEL".into(), "small".into()), ("TOKEN".into(), "a=b".into())]);
    let e = err_in(
        dir.path(),
        "[service.a]\ncommand = [\"x\"]\nenv_file = \"bad.env\"\n[job.j]\ncommand = [\"x\"]\nenv_file = \"missing.env\"\n",
    );
    assert_eq!(e.len(), 2, "{}", e.render());
    let text = e.to_string();
    assert!(text.contains("bad.env:2"), "{text}");
    assert!(text.contains("expected KEY=VALUE"), "{text}");
    assert!(text.contains("cannot read env_file") && text.contains("missing.env"), "{text}");
}

#[test]
fn submit_env_refuses_names_that_pick_the_code() {
    let spec =
        crate::parse_ok("[job.j]\ncommand = [\"x\"]\nsubmit_env = [\"TASK_ID\", \"MODEL\"]\n");
    assert_eq!(spec.job("j").unwrap().submit_env, ["TASK_ID", "MODEL"]);
    let e = crate::errors(
        "[job.j]\ncommand = [\"x\"]\nsubmit_env = [\"PATH\", \"LD_PRELOAD\", \"PYTHONPATH\", \"OK\", \"not-a-name\"]\n",
    );
    assert_eq!(e.len(), 4, "{}", e.render());
    let text = e.to_string();
    for name in ["PATH", "LD_PRELOAD", "PYTHONPATH"] {
        assert!(text.contains(&format!("`job.j.submit_env` cannot allow {name}")), "{text}");
    }
    assert!(text.contains("\"not-a-name\" is not a variable name"), "{text}");
    assert!(
        crate::errors("[service.s]\ncommand = [\"x\"]\nsubmit_env = []\n")
            .render()
            .contains("unknown key `submit_env`")
    );
}

#[test]
fn walls_keys_on_an_unwalled_unit_are_errors_and_values_are_checked() {
    let e = crate::errors(
        "[service.a]\ncommand = [\"x\"]\nisolation = \"none\"\nnetwork = \"none\"\nuser = \"bob\"\ninherit_env = [\"A\"]\n",
    );
    assert_eq!(e.len(), 3, "{}", e.render());
    assert!(e.to_string().contains("only applies with isolation = \"walls\""), "{e}");
    let cases = [
        ("isolation = \"wall\"", "did you mean \"walls\"?"),
        ("network = \"bridge\"", "use one of: host, none"),
        ("user = \"a:b\"", "a user name or a numeric uid"),
        ("user = -1", "a whole number from 0 to 4294967295"),
        ("user = 70000", "a uid below 65536"),
        ("tmp = \"1KiB\"", "at least 1MiB"),
        ("inherit_env = [\"*\"]", "a prefix ending in `*`"),
    ];
    for (line, want) in cases {
        let e = crate::one_error(&format!("[service.a]\ncommand = [\"x\"]\n{line}\n"));
        assert!(e.render().contains(want), "{line}: {}", e.render());
    }
}

#[test]
fn id_range_and_socket_group_are_validated() {
    let spec = crate::parse_ok(
        "[daemon]\nid_range = \"100000-165535\"\nsocket_group = \"root\"\nlisten = [\"unix:/run/stockade-test/s.sock\"]\n",
    );
    assert_eq!(spec.daemon.id_range, IdRange { first: 100_000, count: 65536 });
    let group = spec.daemon.socket_group.unwrap();
    assert_eq!((group.name.as_str(), group.gid), ("root", 0));
    let e = crate::errors(
        "[daemon]\nid_range = \"1-1000\"\nsocket_group = \"no-such-group-stockade\"\n",
    );
    assert_eq!(e.len(), 2, "{}", e.render());
    assert!(
        matches!(e.diagnostics()[0].problem(), Problem::UnknownGroup { .. })
            || matches!(e.diagnostics()[1].problem(), Problem::UnknownGroup { .. })
    );
    let text = e.render();
    assert!(text.contains("fewer than 65536"), "{text}");
    assert!(text.contains("groupadd no-such-group-stockade"), "{text}");
    let private = crate::one_error("[daemon]\nsocket_group = \"root\"\n");
    assert!(matches!(private.diagnostics()[0].problem(), Problem::SocketInPrivateDir { .. }));
    assert!(private.render().contains("unix:/run/stockade/stockade.sock"), "{}", private.render());
}

#[test]
fn a_token_file_is_read_only_when_private() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).unwrap();
    let source = "[daemon]\nlisten = [\"tcp:127.0.0.1:7878\"]\ntoken_file = \"token\"\n";
    let e = err_in(dir.path(), source);
    assert_eq!(e.len(), 1, "{}", e.render());
    assert!(e.render().contains("chmod 600"), "{}", e.render());
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(ok_in(dir.path(), source).daemon.token.as_deref(), Some("s3cret"));
    let both = "[daemon]\ntoken_env = \"X\"\ntoken_file = \"token\"\n";
    assert!(matches!(err_in(dir.path(), both).diagnostics()[0].problem(), Problem::TokenConflict));
}

#[test]
fn a_walled_unit_with_pids_1_is_refused_because_the_init_counts() {
    let e = crate::one_error(
        "[job.j]\ncommand = [\"y\"]\nlimits = { pids = 1 }\n[service.ok]\ncommand = [\"x\"]\nlimits = { pids = 2 }\n",
    );
    let text = e.render();
    assert!(
        matches!(e.diagnostics()[0].problem(), Problem::PidsBelowInit { pids: 1, key } if key == "job.j.limits.pids"),
        "{text}"
    );
    assert!(text.contains("init") && text.contains("at least 2"), "{text}");
    // Unwalled, one pid is the agent's own: allowed.
    crate::parse_ok("[job.j]\ncommand = [\"y\"]\nisolation = \"none\"\nlimits = { pids = 1 }\n");
    // From [defaults] too.
    let e = crate::one_error("[defaults]\nlimits = { pids = 1 }\n[service.a]\ncommand = [\"x\"]\n");
    assert!(e.render().contains("service.a.limits.pids"), "{}", e.render());
}
