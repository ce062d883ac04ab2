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
# token_file = "token"           # 0600; any TCP listener, loopback included, needs a
#                                # token: this, token_env, or $STOCKADE_TOKEN
# socket_group = "stockade"      # socket mode 0660 for this group (put the socket
#                                # outside state_dir: listen = ["unix:/run/stockade/api.sock"])
# id_range = "2147483648-4294901759"   # host uids/gids for the boxes' user namespaces
# workspace_retention = "7d"     # an ended run's /workspace is kept this long, then removed
log_max_size = "10MiB"           # rotate each agent's log at this size…
log_keep = 3                     # …keeping this many old files
# max_connections = 512          # open API connections per listener; more get a 503
# max_connections_per_peer = 64  # …per uid (Unix socket) or IP address (TCP)
# idle_timeout = "60s"           # close a connection idle this long
# header_timeout = "10s"         # a request's headers must arrive within this
# reserve_fds = 1024             # fds below RLIMIT_NOFILE kept for spawning and the store

# What ended runs leave behind, swept at start and every 10 minutes (a reload
# applies new values at once).
[logs]
max_age = "7d"                   # delete the logs of runs that ended longer ago, and older rotated files
# max_size = "20GiB"             # all logs together (default "unlimited"): past it the
#                                # oldest files of ended runs go first, never a live run's
# postmortem_retention = "30d"   # delete older post-mortems (never of a queued or running job)

# Every box is walled unless it says isolation = "none": its own user, pid,
# mount, ipc and uts namespaces; the host root read-only; a private /tmp; an
# empty /workspace as working directory and HOME; and a clean environment
# (PATH, HOME, LANG, TERM, USER, plus env, env_file and inherit_env — never
# the daemon's own variables). These keys work here and in any unit.
[defaults]
# isolation = "walls"            # "none": no walls, for trusted legacy agents (flagged UNWALLED)
# user = "nobody"                # who the agent is inside the box (default root of its namespace)
# network = "host"               # "none": loopback only
# rootfs = "rootfs"              # another root tree, e.g. `docker export IMAGE | tar -x -C rootfs`
# tmp = "256MiB"                 # size of the private /tmp
# mounts = [{ source = "agents", target = "/app", read_only = true }]   # scripts beside this file
# env_file = "agent.env"         # KEY=VALUE lines
# inherit_env = ["AWS_*", "LANG"]   # daemon variables the box may see

# Limits of every box unless a service or job says otherwise. Environment
# variables override these: STOCKADE_DEFAULT_MEMORY=4GiB, _CPUS, _PIDS, _NOFILE,
# _NPROC, _CORE, _MEMORY_HIGH. Any limit can be "unlimited".
[defaults.limits]
cpus = 1.0                       # CPU quota, in CPUs
memory = "2GiB"                  # hard memory limit; above it the OOM killer acts inside the box only
pids = 1000                      # processes + threads per box (a walled box's init counts): stops fork bombs
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
# submit_env = ["TASK_ID"]       # env keys a submission may set (never PATH, HOME, LD_*)
timeout = "5m"                   # then TERM, grace, and the box is killed
retries = { max = 2, backoff = "10s", on = ["exited", "lost"] }
limits = { memory = "256MiB" }

# An alert rule: fires and resolves as events, on /metrics, through the
# webhook and in `stockade status`. Signals: queue_depth and running (pool),
# failures and successes (template, window), restarts (service, window),
# headroom_memory, headroom_pids, psi_{cpu,memory,io}_{some,full}.
[alert.ticker_flapping]
signal = "restarts"
service = "ticker"
window = "1h"
op = ">"                         # > >= < <= == !=
value = 3
# for = "10m"                    # only once it has held this long
"#;
