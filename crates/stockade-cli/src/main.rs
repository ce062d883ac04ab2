//! `stockade`: one binary that runs a herd of agents on one Linux host.
//!
//! `main` only parses arguments, dispatches to one file per verb in
//! `commands/`, and turns errors into `stockade: <what>` plus a hint and a
//! documented exit code (see `exit.rs`).

mod cli;
mod client;
mod commands;
mod exit;
mod render;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
