//! `stockade init`: write the commented starter spec.

use crate::cli::InitArgs;
use crate::exit::{FAILED, fail};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Write `stockade_spec::STARTER_SPEC` to `path`.
pub fn run(path: &Path, args: &InitArgs) -> anyhow::Result<ExitCode> {
    if path.exists() && !args.force {
        return Err(fail(
            FAILED,
            format!("{} already exists", path.display()),
            Some("pass --force to overwrite it, or -f to write another file".to_string()),
        ));
    }
    std::fs::write(path, stockade_spec::STARTER_SPEC)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if args.json {
        crate::render::print_json(&serde_json::json!({"path": path, "written": true}))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("wrote {}", path.display());
    println!("next: `stockade check -f {0}`, then `stockade up -f {0}`", path.display());
    Ok(ExitCode::SUCCESS)
}
