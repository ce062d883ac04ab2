//! `stockade completions bash|zsh|fish|elvish|powershell`: the shell's
//! completion script for every verb and flag, generated from the clap
//! definition (`clap_complete`), so it never falls behind `--help`.

use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory;
use std::process::ExitCode;

/// Print the script on stdout.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "stockade", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
