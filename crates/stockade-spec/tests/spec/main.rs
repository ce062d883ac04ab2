//! Integration tests of `stockade-spec`: whole spec files in, a `Spec` or
//! rendered errors out. `valid` checks values and defaults, `errors` the
//! diagnostics (with snapshots of what users see), `files` the committed
//! files (starter spec, examples, JSON schema).

mod alerts;
mod diff;
mod errors;
mod files;
mod logs;
mod monitor;
mod schedule;
mod valid;
mod walls;

use std::collections::BTreeMap;
use std::path::Path;

use stockade_spec::{Spec, SpecError};

/// Parse `source` as `stockade.toml` in the current directory with only the
/// given environment variables set.
pub fn parse_with_env(source: &str, env: &[(&str, &str)]) -> Result<Spec, SpecError> {
    let env: BTreeMap<String, String> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Spec::parse(source, Path::new("stockade.toml"), &|name| env.get(name).cloned())
}

/// Parse with an empty environment.
pub fn parse(source: &str) -> Result<Spec, SpecError> {
    parse_with_env(source, &[])
}

/// Parse, expecting success; panics with the rendered errors otherwise.
pub fn parse_ok(source: &str) -> Spec {
    match parse(source) {
        Ok(spec) => spec,
        Err(e) => panic!("expected a valid spec, got:\n{}", e.render()),
    }
}

/// Parse, expecting errors.
pub fn errors(source: &str) -> SpecError {
    match parse(source) {
        Ok(spec) => panic!("expected errors, got a valid spec: {spec:#?}"),
        Err(e) => e,
    }
}

/// Parse, expecting exactly one error, and return it.
pub fn one_error(source: &str) -> SpecError {
    let e = errors(source);
    assert_eq!(e.len(), 1, "expected one error, got:\n{}", e.render());
    e
}
