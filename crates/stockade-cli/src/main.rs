//! `stockade`: one binary that runs a herd of agents on one Linux host.
//!
//! `main` only parses arguments, dispatches to one file per verb in
//! `commands/`, and turns errors into `stockade: <what>` plus a hint and a
//! documented exit code (see `exit.rs`).

mod cli;
mod client;
mod colour;
mod commands;
mod exit;
mod offline;
mod pid1;
mod render;
mod target;
mod terminal;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(hint) = commands::logs::explain_dash_f(&argv) {
        eprintln!("stockade: {hint}");
        return ExitCode::from(2);
    }
    let cli = cli::Cli::parse();
    if matches!(&cli.command, cli::Command::Up(_))
        || matches!(&cli.command, cli::Command::Daemon(a) if !a.upgrade)
    {
        pid1::become_init_if_pid1();
    } else {
        // A client printing into `| head` should end quietly like any Unix
        // tool, not panic on EPIPE. The daemon keeps Rust's default (SIGPIPE
        // ignored): a client that hangs up must never kill it.
        // SAFETY: called before any thread exists; SIG_DFL is always valid.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
