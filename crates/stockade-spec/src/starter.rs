//! [`STARTER_SPEC`]: the commented file `stockade init` writes.

/// A starter `stockade.toml`: every section, commented, with defaults spelled
/// out. It runs as is with only `sh` and `sleep`; replace the commands with
/// your agents.
pub const STARTER_SPEC: &str = r#"# stockade.toml — what stockade runs on this host.
# Check it with `stockade check`, run it with `stockade up`.
# Unknown keys are errors; `stockade check` says what it expected instead.
# Durations: "100ms", "2s", "5m", "1h30m". Sizes: "512MiB", "2GiB", "1G", or bytes.

[daemon]
state_dir = ".stockade"          # store, logs and the API socket; relative to this file
# listen = ["unix:.stockade/stockade.sock", "tcp:127.0.0.1:7878"]
# token_env = "STOCKADE_TOKEN"   # required to listen on TCP beyond loopback
log_max_size = "10MiB"           # rotate each agent's log at this size…
log_keep = 3                     # …keeping this many old files

# Limits of every box unless a service or job says otherwise. Environment
# variables override these: STOCKADE_DEFAULT_MEMORY=4GiB, _CPUS, _PIDS, _NOFILE,
# _NPROC, _CORE, _MEMORY_HIGH. Any limit can be "unlimited".
[defaults.limits]
cpus = 1.0                       # CPU quota, in CPUs
memory = "2GiB"                  # hard memory limit; above it the OOM killer acts inside the box only
pids = 1000                      # processes + threads per box: stops fork bombs and thread leaks
nofile = 65535                   # open files per process

# Jobs queue in pools. `default` exists even when not declared (4 at a time).
[pool.default]
max_concurrency = 4              # or "auto" with min/max, adapting to host pressure
max_queued = 10000               # a full queue rejects new jobs with a clear error
queue_timeout = "10m"            # a job not started by then expires

# A service runs until stopped, restarted by its policy when it ends.
[service.ticker]
command = ["sh", "-c", "while true; do echo tick; sleep 1; done"]
restart = "always"               # never | on-failure | always | unless-stopped
backoff = { initial = "100ms", max = "30s", factor = 2.0, jitter = 0.2 }
start_limit = { burst = 5, interval = "60s" }   # more starts than that: gave_up, visibly
stop = { signal = "SIGTERM", grace = "10s" }    # then the whole box is killed
limits = { memory = "64MiB", pids = 32 }

# A service with copies and a readiness gate. `{replica}` expands to the copy's
# index (0, 1, …) and `{replica+N}` to index + N, e.g. for per-copy ports.
[service.worker]
command = ["sh", "-c", "echo worker {replica} ready; exec sleep 100000"]
replicas = 2
env = { WORKER_ID = "w{replica}" }
depends_on = { ticker = "started" }   # started | ready | completed | completed_successfully
readiness = { exec = ["true"], period = "2s", failure_threshold = 3 }
# liveness = { http = "http://127.0.0.1:{replica+9100}/health", period = "10s" }

# A job template: `stockade run hello -- world` queues one run of it.
[job.hello]
command = ["sh", "-c", "echo hello \"$0\"; sleep 1"]   # submitted args are appended
pool = "default"
timeout = "5m"                   # then TERM, grace, and the box is killed
retries = { max = 2, backoff = "10s", on = ["exited", "lost"] }
limits = { memory = "256MiB" }
"#;
