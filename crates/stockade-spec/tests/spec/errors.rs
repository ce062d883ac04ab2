//! Invalid specs: each problem is found, placed and explained. The snapshots
//! under `tests/snapshots/` are exactly what `stockade check` shows.

use stockade_spec::{Problem, SpecError};

use crate::{errors, one_error, parse_with_env};

/// Assert one error that `expected` accepts, and snapshot its rendering.
fn check(name: &str, source: &str, expected: impl Fn(&Problem) -> bool) -> SpecError {
    let e = one_error(source);
    let problem = e.diagnostics()[0].problem();
    assert!(expected(problem), "unexpected problem: {problem:?}");
    insta::assert_snapshot!(name, e.render());
    e
}

#[test]
fn unknown_key_with_hint() {
    let e = check(
        "unknown_key",
        "[service.web]\ncommand = [\"python3\", \"web.py\"]\ndepnds_on = { db = \"ready\" }\n",
        |p| matches!(p, Problem::UnknownKey { suggestion: Some(s), .. } if s == "depends_on"),
    );
    assert_eq!(e.diagnostics()[0].line_col(), Some((3, 1)));
}

#[test]
fn unknown_key_without_a_close_match_lists_the_valid_keys() {
    let e = one_error("[job.j]\ncommand = [\"x\"]\nimage = \"ubuntu\"\n");
    let hint = e.diagnostics()[0].problem().hint().unwrap();
    assert!(hint.starts_with("valid keys here: command, env, cwd, pool"), "{hint}");
}

#[test]
fn bad_duration() {
    check(
        "bad_duration",
        "[job.j]\ncommand = [\"x\"]\ntimeout = \"30\"\n",
        |p| matches!(p, Problem::BadDuration { text, .. } if text == "30"),
    );
}

#[test]
fn bad_size() {
    check(
        "bad_size",
        "[defaults.limits]\nmemory = \"2gb\"\n",
        |p| matches!(p, Problem::BadSize { text, .. } if text == "2gb"),
    );
}

#[test]
fn dependency_cycle() {
    let source = r#"
[service.a]
command = ["x"]
depends_on = { c = "ready" }
[service.b]
command = ["x"]
depends_on = { a = "ready" }
[service.c]
command = ["x"]
depends_on = { b = "started" }
"#;
    check(
        "dependency_cycle",
        source,
        |p| matches!(p, Problem::DependencyCycle { cycle } if cycle.len() == 4 && cycle.first() == cycle.last()),
    );
}

#[test]
fn self_dependency() {
    check(
        "self_dependency",
        "[service.web]\ncommand = [\"x\"]\ndepends_on = { web = \"ready\" }\n",
        |p| matches!(p, Problem::SelfDependency { service } if service == "web"),
    );
}

#[test]
fn unknown_dependency() {
    check(
        "unknown_dependency",
        "[service.database]\ncommand = [\"x\"]\n[service.web]\ncommand = [\"x\"]\ndepends_on = { databse = \"ready\" }\n",
        |p| matches!(p, Problem::UnknownDependency { suggestion: Some(s), .. } if s == "database"),
    );
}

#[test]
fn empty_command() {
    check("empty_command", "[service.web]\ncommand = []\n", |p| {
        matches!(p, Problem::EmptyCommand { .. })
    });
}

#[test]
fn duplicate_name() {
    check(
        "duplicate_name",
        "[service.build]\ncommand = [\"x\"]\n\n[job.build]\ncommand = [\"make\"]\n",
        |p| matches!(p, Problem::DuplicateName { name } if name == "build"),
    );
}

#[test]
fn non_http_probe_url() {
    check(
        "non_http_probe_url",
        "[service.web]\ncommand = [\"x\"]\nreadiness = { http = \"https://127.0.0.1:8443/health\" }\n",
        |p| matches!(p, Problem::BadProbeUrl { .. }),
    );
    let e =
        one_error("[service.web]\ncommand = [\"x\"]\nliveness = { http = \"ftp://127.0.0.1/\" }\n");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::BadProbeUrl { .. }));
}

#[test]
fn command_as_a_string_gets_the_array_form_as_hint() {
    let e = check(
        "command_string",
        "[service.web]\ncommand = \"python3 -m http.server 8080\"\n",
        |p| matches!(p, Problem::CommandNotArray { .. }),
    );
    let hint = e.diagnostics()[0].problem().hint().unwrap();
    assert!(hint.contains(r#"command = ["python3", "-m", "http.server", "8080"]"#), "{hint}");
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let source = r#"
[daemon]
log_keep = -1

[defaults.limits]
memory = 0

[service.web]
command = ["x"]
restart = "on_failure"
replicas = 0
stop = { signal = "SIGTREM" }
depends_on = { job1 = "ready", web = "started" }
readiness = { tcp = "127.0.0.1:{replica}" }
liveness = { exec = ["x"], http = "http://127.0.0.1/" }

[service.bad.name]
command = ["x"]

[job.job1]
command = ["x"]
pool = "gpu"
retries = { on = ["exited", "oom"] }
"#;
    let e = errors(source);
    let kinds: Vec<String> = e
        .diagnostics()
        .iter()
        .map(|d| {
            format!("{:?}", d.problem()).split([' ', '{', '(']).next().unwrap_or("").to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "OutOfRange",      // log_keep = -1
            "OutOfRange",      // memory = 0
            "UnknownValue",    // restart
            "OutOfRange",      // replicas = 0
            "UnknownSignal",   // SIGTREM
            "DependsOnJob",    // job1
            "SelfDependency",  // web
            "BadProbeAddress", // tcp with a placeholder
            "ProbeKind",       // exec and http
            "MissingKey",      // [service.bad.name] makes a service `bad` without a command…
            "UnknownKey",      // …and an unknown key `name`
            "UnknownPool",     // gpu
            "UnknownValue",    // oom
        ],
        "\n{e}"
    );
    insta::assert_snapshot!("every_error_compact", e.to_string());
}

#[test]
fn memory_below_a_mebibyte_says_the_minimum() {
    let e = one_error("[defaults.limits]\nmemory = 0\n");
    assert!(e.to_string().contains("`defaults.limits.memory` must be at least 1MiB, got 0"), "{e}");
}

#[test]
fn unknown_signal_suggests_the_closest() {
    let e = one_error("[service.a]\ncommand = [\"x\"]\nstop = { signal = \"SIGTREM\" }\n");
    assert_eq!(e.diagnostics()[0].problem().hint().as_deref(), Some("did you mean \"SIGTERM\"?"));
}

#[test]
fn retries_on_unknown_cause_points_at_the_element() {
    let source = "[job.j]\ncommand = [\"x\"]\nretries = { on = [\"exited\", \"oom_kill\"] }\n";
    let e = one_error(source);
    let span = e.diagnostics()[0].span().unwrap();
    assert_eq!(&source[span], "\"oom_kill\"");
    assert_eq!(
        e.diagnostics()[0].problem().hint().as_deref(),
        Some("did you mean \"oom_killed\"?")
    );
}

#[test]
fn depends_on_a_job_is_refused() {
    let e = one_error(
        "[job.migrate]\ncommand = [\"x\"]\n[service.web]\ncommand = [\"x\"]\ndepends_on = { migrate = \"completed\" }\n",
    );
    assert!(matches!(e.diagnostics()[0].problem(), Problem::DependsOnJob { .. }));
}

#[test]
fn a_job_in_an_undeclared_pool_is_refused_with_a_suggestion() {
    let e =
        one_error("[pool.gpus]\nmax_concurrency = 1\n[job.j]\ncommand = [\"x\"]\npool = \"gpu\"\n");
    assert!(
        matches!(e.diagnostics()[0].problem(), Problem::UnknownPool { suggestion: Some(s), .. } if s == "gpus")
    );
}

#[test]
fn per_replica_ports_past_65535_are_caught_for_the_last_replica() {
    let e = one_error(
        "[service.p]\ncommand = [\"x\"]\nreplicas = 10\nreadiness = { http = \"http://127.0.0.1:{replica+65530}/\" }\n",
    );
    assert!(e.to_string().contains("http://127.0.0.1:65539/"), "{e}");
}

#[test]
fn bad_environment_defaults_name_the_variable_and_come_with_file_errors() {
    let e = parse_with_env(
        "[service.a]\ncommand = []\n",
        &[("STOCKADE_DEFAULT_MEMORY", "lots"), ("STOCKADE_DEFAULT_PIDS", "0")],
    )
    .unwrap_err();
    assert_eq!(e.len(), 3, "{e}");
    let text = e.to_string();
    assert!(text.contains("STOCKADE_DEFAULT_MEMORY=\"lots\" is not a size"), "{text}");
    assert!(text.contains("STOCKADE_DEFAULT_PIDS=\"0\""), "{text}");
    assert!(e.diagnostics().iter().filter(|d| d.span().is_none()).count() == 2);
}

#[test]
fn every_tcp_listener_needs_a_token_loopback_included() {
    for addr in ["0.0.0.0:7878", "127.0.0.1:7878", "[::1]:7878"] {
        let e = one_error(&format!("[daemon]\nlisten = [\"tcp:{addr}\"]\n"));
        assert!(matches!(e.diagnostics()[0].problem(), Problem::TokenRequired { .. }), "{addr}");
        assert!(e.render().contains("STOCKADE_TOKEN"), "{}", e.render());
    }
    let with_env = crate::parse_with_env(
        "[daemon]\nlisten = [\"tcp:127.0.0.1:7878\"]\n",
        &[("STOCKADE_TOKEN", "s3cret")],
    );
    assert_eq!(with_env.unwrap().daemon.token.as_deref(), Some("s3cret"));
}

#[test]
fn a_long_socket_path_is_refused_before_bind_fails() {
    let long = "d".repeat(120);
    let e = one_error(&format!(
        "[daemon]\nstate_dir = \"{long}\"\nlisten = [\"unix:{long}/s.sock\"]\n"
    ));
    assert!(matches!(e.diagnostics()[0].problem(), Problem::BadListen { .. }));
}

#[test]
fn syntax_errors_stop_with_a_place() {
    let e = check("syntax_error", "[service.web]\ncommand = [\"x\"\nrestart = \"always\"\n", |p| {
        matches!(p, Problem::Syntax { .. })
    });
    assert!(e.diagnostics()[0].line_col().is_some());
}

#[test]
fn auto_bounds_and_fixed_pools_with_bounds() {
    let e = errors(
        "[pool.a]\nmax_concurrency = \"auto\"\nmin = 5\nmax = 2\n[pool.b]\nmax_concurrency = 3\nmin = 1\n",
    );
    assert_eq!(e.len(), 2, "{e}");
    assert!(matches!(e.diagnostics()[0].problem(), Problem::OutOfRange { .. }));
    assert!(matches!(e.diagnostics()[1].problem(), Problem::OnlyApplies { .. }));
}

#[test]
fn backoff_values_are_bounded() {
    let e = errors(
        "[service.a]\ncommand = [\"x\"]\nbackoff = { initial = \"10s\", max = \"1s\", factor = 0.5, jitter = 2.0 }\n",
    );
    assert_eq!(e.len(), 3, "{e}");
}

#[test]
fn odd_shapes_are_errors_not_panics() {
    let cases: &[(&str, usize)] = &[
        ("service = 3\n", 1),
        ("[service]\n", 0),
        ("[service.a]\ncommand = [1, 2]\n", 1),
        ("[service.a]\ncommand = [\"\"]\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nreplicas = 1.5\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nreplicas = 99999999999\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nenv = { PORT = 8080 }\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nstop = { grace = 10 }\n", 1),
        ("[service.a]\ncommand = [\"x\"]\ndepends_on = [\"b\"]\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nexit_codes = [0, 256, \"1\"]\n", 2),
        ("[service.a]\ncommand = [\"x\"]\nreadiness = {}\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nreadiness = { tcp = \"localhost\" }\n", 1),
        ("[service.a]\ncommand = [\"x\"]\nliveness = { http = \"http://:80/\" }\n", 1),
        ("[service.\"a b\"]\ncommand = [\"x\"]\n", 1),
        ("[pool.p]\nmax_concurrency = \"lots\"\n", 1),
        ("[pool.p]\nmax_concurrency = 0\n", 1),
        ("[daemon]\nlisten = [\"http://x\"]\n", 1),
        ("[daemon]\nlisten = [\"tcp:localhost:80\"]\n", 1),
        ("[daemon]\nlisten = []\n", 1),
        ("[daemon]\ntoken = \"a\"\ntoken_env = \"B\"\n", 1),
        ("[job.j]\n", 1),
        ("[job.j]\ncommand = [\"x\"]\npriority = 3000000000\n", 1),
        ("[job.j]\ncommand = [\"x\"]\n[job.j.retries]\non = \"exited\"\n", 1),
        ("[defaults]\nlimits = { cpus = 0 }\n", 1),
        ("[defaults.limits]\ncpus = \"unlimited\"\nnofile = 0\ncore = \"-1\"\n", 2),
        ("", 0),
    ];
    for (source, expected) in cases {
        match crate::parse(source) {
            Ok(_) => assert_eq!(*expected, 0, "expected {expected} errors for {source:?}"),
            Err(e) => {
                assert_eq!(e.len(), *expected, "{source:?}:\n{e}");
                for d in e.diagnostics() {
                    let span = d.span().expect("file problems have a place");
                    assert!(span.end <= source.len(), "span {span:?} inside {source:?}");
                }
                assert!(!e.render().is_empty());
            }
        }
    }
}

proptest::proptest! {
    /// Any edit of a valid spec either parses or yields placed, renderable
    /// errors — never a panic, never a span outside the text.
    #[test]
    fn mutated_specs_never_panic(at in 0usize..2000, len in 0usize..12, insert in "[ -~\n]{0,12}") {
        let base = stockade_spec::STARTER_SPEC;
        let mut at = at.min(base.len());
        while !base.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len).min(base.len());
        while !base.is_char_boundary(end) {
            end -= 1;
        }
        let source = format!("{}{}{}", &base[..at], insert, &base[end..]);
        if let Err(e) = crate::parse(&source) {
            proptest::prop_assert!(!e.is_empty());
            for d in e.diagnostics() {
                if let Some(span) = d.span() {
                    proptest::prop_assert!(span.end <= source.len());
                }
            }
            proptest::prop_assert!(!e.render().is_empty());
        }
    }
}
