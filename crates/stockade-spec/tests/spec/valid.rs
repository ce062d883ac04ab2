//! Valid specs: every value lands where it should, defaults fill the rest.

use std::path::Path;
use std::time::Duration;

use stockade_spec::{
    Backoff, Concurrency, DependsOn, Limits, Listen, ProbeCheck, RestartPolicy, StartLimit,
    StopSpec, builtin_defaults,
};

use crate::{errors, parse_ok, parse_with_env};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The example of DESIGN.md §2, verbatim apart from comments.
const DESIGN_EXAMPLE: &str = r#"
[daemon]
state_dir = ".stockade"
listen = ["unix:.stockade/stockade.sock"]

[defaults.limits]
cpus = 1.0
memory = "2GiB"
pids = 1000
nofile = 65535

[pool.default]
max_concurrency = 4
max_queued = 10000
queue_timeout = "5m"

[service.router]
command = ["python3", "router.py"]
restart = "on-failure"
exit_codes = [0]
backoff = { initial = "100ms", max = "30s", factor = 2.0, jitter = 0.2 }
start_limit = { burst = 5, interval = "60s" }
stop = { signal = "SIGTERM", grace = "30s" }
readiness = { http = "http://127.0.0.1:8765/health/ready", period = "2s", failure_threshold = 3 }
liveness = { exec = ["./check.sh"], period = "10s", failure_threshold = 3 }
limits = { memory = "512MiB" }

[service.player]
command = ["python3", "player.py"]
replicas = 22
depends_on = { router = "ready" }

[job.agent]
command = ["python3", "agent.py"]
pool = "default"
timeout = "30m"
retries = { max = 2, backoff = "10s", on = ["exited", "lost"] }
limits = { cpus = 1, memory = "2GiB", pids = 1000 }
"#;

#[test]
fn the_design_example_parses_into_the_values_it_says() {
    let spec = parse_ok(DESIGN_EXAMPLE);
    let base = std::path::absolute(".").unwrap();
    assert_eq!(spec.base_dir, base);
    assert_eq!(spec.daemon.state_dir, base.join(".stockade"));
    assert_eq!(spec.daemon.listen, vec![Listen::Unix(base.join(".stockade/stockade.sock"))]);

    let pool = &spec.pools["default"];
    assert_eq!(pool.max_concurrency, Concurrency::Fixed(4));
    assert_eq!(pool.max_queued, 10_000);
    assert_eq!(pool.queue_timeout, Some(Duration::from_secs(300)));

    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["router", "player"], "services keep file order");
    let router = spec.service("router").unwrap();
    assert_eq!(router.command, ["python3", "router.py"]);
    assert_eq!(router.restart, RestartPolicy::OnFailure);
    assert_eq!(
        router.backoff,
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.2
        }
    );
    assert_eq!(router.start_limit, StartLimit { burst: 5, interval: Duration::from_secs(60) });
    assert_eq!(
        router.stop,
        StopSpec { signal: 15, signal_name: "SIGTERM".into(), grace: Duration::from_secs(30) }
    );
    let readiness = router.readiness.as_ref().unwrap();
    assert_eq!(
        readiness.check,
        ProbeCheck::Http {
            url: "http://127.0.0.1:8765/health/ready".into(),
            host: "127.0.0.1".into(),
            port: 8765,
            path: "/health/ready".into(),
        }
    );
    assert_eq!(readiness.period, Duration::from_secs(2));
    assert_eq!(readiness.timeout, Duration::from_secs(1), "default probe timeout");
    let liveness = router.liveness.as_ref().unwrap();
    assert_eq!(liveness.check, ProbeCheck::Exec(vec!["./check.sh".into()]));
    assert_eq!(liveness.period, Duration::from_secs(10));
    assert_eq!(
        router.limits,
        Limits {
            memory: Some(512 * MIB),
            cpus: Some(1.0),
            pids: Some(1000),
            nofile: Some(65535),
            ..Limits::default()
        },
        "own memory, the rest from defaults"
    );

    let player = spec.service("player").unwrap();
    assert_eq!(player.replicas, 22);
    assert_eq!(player.depends_on.len(), 1);
    assert_eq!(player.depends_on[0].service, "router");
    assert_eq!(player.depends_on[0].condition, DependsOn::Ready);

    let agent = spec.job("agent").unwrap();
    assert_eq!(agent.pool, "default");
    assert_eq!(agent.timeout, Some(Duration::from_secs(1800)));
    assert_eq!(agent.retries.max, 2);
    assert_eq!(agent.retries.backoff, Duration::from_secs(10));
    assert_eq!(agent.retries.on, ["exited", "lost"]);
    assert_eq!(agent.limits.cpus, Some(1.0));
    assert_eq!(agent.limits.memory, Some(2 * GIB));
}

#[test]
fn a_minimal_spec_gets_every_documented_default() {
    let spec =
        parse_ok("[service.a]\ncommand = [\"sleep\", \"1\"]\n\n[job.j]\ncommand = [\"true\"]\n");
    let base = std::path::absolute(".").unwrap();
    assert_eq!(spec.daemon.state_dir, base.join(".stockade"));
    assert_eq!(spec.daemon.socket_path(), Some(base.join(".stockade/stockade.sock").as_path()));
    assert_eq!(spec.daemon.token, None);
    assert_eq!(spec.daemon.log_max_size, 10 * MIB);
    assert_eq!(spec.daemon.log_keep, 3);
    assert_eq!(spec.daemon.event_retention, 100_000);
    assert_eq!(spec.defaults, builtin_defaults());
    assert_eq!(
        builtin_defaults(),
        Limits {
            cpus: Some(1.0),
            memory: Some(2 * GIB),
            pids: Some(1000),
            nofile: Some(65535),
            ..Limits::default()
        }
    );
    assert_eq!(spec.pools.len(), 1);
    assert_eq!(spec.pools["default"].max_concurrency, Concurrency::Fixed(4));
    assert_eq!(spec.pools["default"].max_queued, 10_000);

    let a = spec.service("a").unwrap();
    assert_eq!(a.restart, RestartPolicy::OnFailure);
    assert_eq!(a.exit_codes, [0]);
    assert_eq!(a.backoff, Backoff::default());
    assert_eq!(a.start_limit, StartLimit::default());
    assert_eq!(a.stop, StopSpec::default());
    assert_eq!(a.stop.grace, Duration::from_secs(10));
    assert_eq!(a.replicas, 1);
    assert_eq!(a.limits, builtin_defaults());
    assert!(a.readiness.is_none() && a.liveness.is_none() && a.depends_on.is_empty());

    let j = spec.job("j").unwrap();
    assert_eq!(j.pool, "default");
    assert_eq!(j.priority, 0);
    assert_eq!(j.timeout, None);
    assert_eq!(j.retries.max, 0);
    assert_eq!(j.retries.on, ["exited", "lost"]);
}

#[test]
fn environment_overrides_spec_defaults_but_not_unit_limits() {
    let source = r#"
[defaults.limits]
memory = "1GiB"
pids = 500

[service.own]
command = ["x"]
limits = { memory = "3GiB" }

[service.inherit]
command = ["x"]
"#;
    let env = [
        ("STOCKADE_DEFAULT_MEMORY", "4GiB"),
        ("STOCKADE_DEFAULT_CPUS", "2.5"),
        ("STOCKADE_DEFAULT_PIDS", "unlimited"),
        ("STOCKADE_DEFAULT_NPROC", "4096"),
        ("STOCKADE_DEFAULT_CORE", "0"),
        ("STOCKADE_DEFAULT_NOFILE", ""),
    ];
    let spec = parse_with_env(source, &env).unwrap();
    let expected = Limits {
        memory: Some(4 * GIB),
        cpus: Some(2.5),
        pids: None,
        nofile: Some(65535),
        nproc: Some(4096),
        core: Some(0),
        memory_high: None,
    };
    assert_eq!(spec.defaults, expected);
    assert_eq!(spec.service("inherit").unwrap().limits, expected);
    assert_eq!(spec.service("own").unwrap().limits.memory, Some(3 * GIB));
}

#[test]
fn unlimited_removes_an_inherited_limit() {
    let spec = parse_ok(
        "[service.a]\ncommand = [\"x\"]\nlimits = { memory = \"unlimited\", pids = \"unlimited\" }\n",
    );
    let limits = &spec.service("a").unwrap().limits;
    assert_eq!(limits.memory, None);
    assert_eq!(limits.pids, None);
    assert_eq!(limits.cpus, Some(1.0));
}

#[test]
fn start_order_puts_dependencies_first_and_keeps_file_order_otherwise() {
    let spec = parse_ok(
        r#"
[service.c]
command = ["x"]
depends_on = { b = "started" }
[service.a]
command = ["x"]
[service.b]
command = ["x"]
depends_on = { a = "ready" }
[service.d]
command = ["x"]
[service.e]
command = ["x"]
depends_on = { a = "completed", d = "completed_successfully" }
"#,
    );
    assert_eq!(spec.start_order(), ["a", "b", "c", "d", "e"]);
    let e = spec.service("e").unwrap();
    let conditions: Vec<DependsOn> = e.depends_on.iter().map(|d| d.condition).collect();
    assert_eq!(conditions, [DependsOn::Completed, DependsOn::CompletedSuccessfully]);
}

#[test]
fn replica_placeholders_expand_per_replica() {
    let spec = parse_ok(
        r#"
[service.player]
command = ["python3", "player.py", "--port", "{replica+9100}", "--name", "p{replica}"]
env = { PLAYER = "{replica}", HOME_DIR = "$${HOME}" }
replicas = 22
readiness = { http = "http://127.0.0.1:{replica+9100}/health" }
liveness = { exec = ["check", "{replica}"] }
"#,
    );
    let template = spec.service("player").unwrap();
    let ProbeCheck::Http { port, .. } = &template.readiness.as_ref().unwrap().check else {
        panic!("http probe")
    };
    assert_eq!(*port, 9100, "the template's parsed port is replica 0's");
    let last = template.for_replica(21);
    assert_eq!(last.command, ["python3", "player.py", "--port", "9121", "--name", "p21"]);
    assert_eq!(last.env["PLAYER"], "21");
    assert_eq!(
        last.env["HOME_DIR"], "${HOME}",
        "`$${{` is a literal `${{`; other braces are left alone"
    );
    assert_eq!(
        last.readiness.unwrap().check,
        ProbeCheck::Http {
            url: "http://127.0.0.1:9121/health".into(),
            host: "127.0.0.1".into(),
            port: 9121,
            path: "/health".into(),
        }
    );
    assert_eq!(last.liveness.unwrap().check, ProbeCheck::Exec(vec!["check".into(), "21".into()]));
}

#[test]
fn pools_fixed_auto_and_declared_default() {
    let spec = parse_ok(
        r#"
[pool.default]
max_concurrency = 2
[pool.gpu]
max_concurrency = "auto"
min = 2
max = 8
[pool.cpu]
max_concurrency = "auto"
[job.train]
command = ["x"]
pool = "gpu"
"#,
    );
    assert_eq!(spec.pools["default"].max_concurrency, Concurrency::Fixed(2));
    assert_eq!(spec.pools["gpu"].max_concurrency, Concurrency::Auto { min: 2, max: 8 });
    let cpus = std::thread::available_parallelism().unwrap().get() as u32;
    assert_eq!(spec.pools["cpu"].max_concurrency, Concurrency::Auto { min: 1, max: cpus * 4 });
    assert_eq!(spec.job("train").unwrap().pool, "gpu");
}

#[test]
fn daemon_paths_listen_and_token() {
    let source = r#"
[daemon]
state_dir = "var/state"
listen = ["unix:var/api.sock", "tcp:0.0.0.0:7878", "tcp:[::1]:7879"]
token_env = "MY_TOKEN"
log_max_size = "1MiB"
log_keep = 0
event_retention = 5000

[service.a]
command = ["x"]
cwd = "agents/a"
"#;
    let spec = parse_at(source, "/srv/project/stockade.toml", &[("MY_TOKEN", "s3cret")]);
    let base = Path::new("/srv/project");
    assert_eq!(spec.base_dir, base);
    assert_eq!(spec.daemon.state_dir, base.join("var/state"));
    assert_eq!(
        spec.daemon.listen,
        vec![
            Listen::Unix(base.join("var/api.sock")),
            Listen::Tcp("0.0.0.0:7878".parse().unwrap()),
            Listen::Tcp("[::1]:7879".parse().unwrap()),
        ]
    );
    assert_eq!(spec.daemon.token.as_deref(), Some("s3cret"));
    assert_eq!(spec.daemon.log_max_size, MIB);
    assert_eq!(spec.daemon.log_keep, 0);
    assert_eq!(spec.daemon.event_retention, 5000);
    assert_eq!(spec.service("a").unwrap().cwd.as_deref(), Some(base.join("agents/a").as_path()));
}

#[test]
fn admission_reserve_and_store_sync_are_configurable() {
    let defaults = parse_at("", "/srv/stockade.toml", &[]);
    assert_eq!(defaults.daemon.reserve_memory, 1 << 30);
    assert_eq!(defaults.daemon.reserve_tasks, 2048);
    assert_eq!(defaults.daemon.synchronous, stockade_spec::Synchronous::Full);
    let source =
        "[daemon]\nreserve_memory = \"4GiB\"\nreserve_tasks = 4096\nsynchronous = \"normal\"\n";
    let spec = parse_at(source, "/srv/stockade.toml", &[]);
    assert_eq!(spec.daemon.reserve_memory, 4 << 30);
    assert_eq!(spec.daemon.reserve_tasks, 4096);
    assert_eq!(spec.daemon.synchronous, stockade_spec::Synchronous::Normal);
    let bad = stockade_spec::Spec::parse(
        "[daemon]\nsynchronous = \"off\"\n",
        Path::new("s.toml"),
        &|_| None,
    );
    assert!(bad.unwrap_err().render().contains("\"full\" or \"normal\""));
}

#[test]
fn on_stop_requeues_by_default_and_may_leave_jobs_running() {
    let defaults = parse_at("", "/srv/stockade.toml", &[]);
    assert_eq!(defaults.daemon.on_stop, stockade_spec::OnStop::Requeue);
    let spec = parse_at("[daemon]\non_stop = \"leave\"\n", "/srv/stockade.toml", &[]);
    assert_eq!(spec.daemon.on_stop, stockade_spec::OnStop::Leave);
    let bad =
        stockade_spec::Spec::parse("[daemon]\non_stop = \"kill\"\n", Path::new("s.toml"), &|_| {
            None
        });
    assert!(bad.unwrap_err().render().contains("\"requeue\" or \"leave\""));
}

fn parse_at(source: &str, path: &str, env: &[(&str, &str)]) -> stockade_spec::Spec {
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match stockade_spec::Spec::parse(source, Path::new(path), &lookup) {
        Ok(spec) => spec,
        Err(e) => panic!("{}", e.render()),
    }
}

#[test]
fn signals_accept_short_and_lowercase_names() {
    let spec =
        parse_ok("[service.a]\ncommand = [\"x\"]\nstop = { signal = \"int\", grace = \"0s\" }\n");
    let stop = &spec.service("a").unwrap().stop;
    assert_eq!((stop.signal, stop.signal_name.as_str(), stop.grace), (2, "SIGINT", Duration::ZERO));
}

#[test]
fn a_token_env_that_is_unset_is_an_error_not_an_open_door() {
    let e = errors("[daemon]\nlisten = [\"tcp:0.0.0.0:7878\"]\ntoken_env = \"NOPE\"\n");
    assert_eq!(e.len(), 1, "{}", e.render());
    assert!(e.to_string().contains("token_env names $NOPE"), "{e}");
}
