//! One file per verb; [`dispatch`] picks it. Client verbs share a
//! current-thread runtime; `up` and `daemon` build the daemon's runtime.

pub mod check;
pub mod cluster;
pub mod completions;
pub mod control;
pub mod daemon;
pub mod doctor;
pub mod down;
pub mod drain;
pub mod events;
pub mod exec;
pub mod init;
pub mod logs;
pub mod postmortem;
pub mod ps;
pub mod reload;
pub mod run;
pub mod schedules;
pub mod signals;
pub mod status;
pub mod top;
pub mod up;
pub mod upgrade;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::exit::{USAGE, fail};
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use stockade_spec::Spec;

/// Run the chosen verb.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Init(args) => init::run(&cli.file, args),
        Command::Check(args) => check::run(&cli.file, args.json),
        Command::Completions(args) => completions::run(args),
        Command::Up(args) => up::run(&cli.file, args),
        Command::Daemon(args) if args.upgrade => client_verb(&cli, upgrade::request),
        Command::Daemon(args) => daemon::run(&cli.file, args),
        Command::Down(args) => client_verb(&cli, |c| down::run(c, args)),
        Command::Doctor(args) => doctor::run(args, &cli),
        Command::Run(args) => client_verb(&cli, |c| run::run(c, args)),
        Command::Ps(args) => read_verb(&cli, |c| ps::run(c, args), |o| crate::offline::ps(o, args)),
        Command::Status(args) => client_verb(&cli, |c| status::run(c, args.json)),
        Command::Logs(args) => {
            read_verb(&cli, |c| logs::run(c, args), |o| crate::offline::logs(o, args))
        }
        Command::Events(args) => {
            read_verb(&cli, |c| events::run(c, args), |o| crate::offline::events(o, args))
        }
        Command::Postmortem(args) => {
            read_verb(&cli, |c| postmortem::run(c, args), |o| crate::offline::postmortem(o, args))
        }
        Command::Exec(args) => client_verb(&cli, |c| async move {
            let exit = exec::run(c, args).await?;
            Ok(exec::finish(&exit, args.json))
        }),
        Command::Cancel(args) => client_verb(&cli, |c| control::cancel(c, args)),
        Command::Stop(args) => client_verb(&cli, |c| control::service(c, args, "stop")),
        Command::Start(args) => client_verb(&cli, |c| control::service(c, args, "start")),
        Command::Restart(args) => client_verb(&cli, |c| control::service(c, args, "restart")),
        Command::Scale(args) => client_verb(&cli, |c| control::scale(c, args)),
        Command::Top(args) => client_verb(&cli, |c| top::run(c, args)),
        Command::Cluster(args) => client_verb(&cli, |c| cluster::run(c, args.json)),
        Command::Drain(args) => client_verb(&cli, |c| drain::run(c, args)),
        Command::Reload(args) => {
            let client = reload::client(cli.socket.as_deref(), &cli.file, cli.timeout)?;
            on_runtime(client, |c| reload::run(c, &cli.file, args.plan, args.json))
        }
    }
}

fn client_verb<F, Fut>(cli: &Cli, verb: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    let client = Client::locate(cli.socket.as_deref(), &cli.file, cli.timeout)?;
    on_runtime(client, verb)
}

/// A verb that only reads: through the daemon when it runs, else from the
/// store (read-only) and log files of the spec's state directory.
fn read_verb<F, Fut>(
    cli: &Cli,
    verb: F,
    offline: impl FnOnce(&crate::offline::Offline) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    let client = Client::locate(cli.socket.as_deref(), &cli.file, cli.timeout)?;
    if client.connects() {
        return on_runtime(client, verb);
    }
    match Spec::from_file(&cli.file) {
        Ok(spec) => offline(&crate::offline::Offline::open(spec)?),
        // No spec to find the store by: the "not reachable" error says what to do.
        Err(_) => on_runtime(client, verb),
    }
}

fn on_runtime<F, Fut>(client: Client, verb: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(verb(client))
}

/// Read and validate the spec, or fail with every error rendered (exit 2).
pub fn load_spec(path: &Path) -> anyhow::Result<Spec> {
    Spec::from_file(path).map_err(|e| {
        let count = e.len();
        fail(
            USAGE,
            format!(
                "{} has {count} error{}:\n{}",
                path.display(),
                if count == 1 { "" } else { "s" },
                e.render().trim_end()
            ),
            Some("fix the spec and run `stockade check` again".to_string()),
        )
    })
}
