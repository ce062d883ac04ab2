//! The JSON Schema of `stockade.toml` ([`json_schema`]), generated from the
//! descriptive types in `file`, committed at `schema/stockade.schema.json` for
//! editors (taplo, VS Code "Even Better TOML") and kept current by a test.

mod file;
mod values;

pub(crate) use file::SpecFile;
use serde_json::Value;

/// The JSON Schema (draft 2020-12) of `stockade.toml`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(SpecFile);
    // A Schema is a JSON value already; this conversion cannot fail.
    let mut value = serde_json::to_value(&schema).unwrap_or(Value::Null);
    remove_null(&mut value);
    value
}

/// TOML has no null: an absent key is the only "none". schemars describes
/// `Option<T>` as `T | null`; this strips the null alternatives everywhere.
fn remove_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".to_owned(), only);
                }
            }
            if let Some(Value::Array(options)) = map.get_mut("anyOf") {
                options.retain(|o| o.get("type") != Some(&Value::from("null")));
                if options.len() == 1
                    && let Some(Value::Object(only)) = options.pop()
                {
                    map.remove("anyOf");
                    for (k, v) in only {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            map.values_mut().for_each(remove_null);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::{SpecFile, json_schema};
    use crate::read;

    fn keys(schema: &Value) -> BTreeSet<String> {
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    /// The reader's key lists decide what is valid; the schema must describe
    /// exactly the same keys at every position, and forbid all others.
    #[test]
    fn schema_tables_match_the_reader_key_lists() {
        let schema = json_schema();
        assert_eq!(keys(&schema), set(read::ROOT_KEYS), "top level");
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
        let tables = [
            ("DaemonTable", read::DAEMON_KEYS),
            ("LogsTable", read::LOGS_KEYS),
            ("DefaultsTable", read::DEFAULTS_KEYS),
            ("MonitorTable", read::MONITOR_KEYS),
            ("LimitsTable", read::LIMITS_KEYS),
            ("PoolTable", read::POOL_KEYS),
            ("ServiceTable", read::SERVICE_KEYS),
            ("BackoffTable", read::BACKOFF_KEYS),
            ("StartLimitTable", read::START_LIMIT_KEYS),
            ("StopTable", read::STOP_KEYS),
            ("ProbeTable", read::PROBE_KEYS),
            ("JobTable", read::JOB_KEYS),
            ("RetriesTable", read::RETRIES_KEYS),
            ("MountTable", read::MOUNT_KEYS),
            ("AlertTable", read::ALERT_KEYS),
        ];
        let defs = schema["$defs"].as_object().expect("schema has $defs");
        for (name, expected) in tables {
            let def = &defs[name];
            assert_eq!(keys(def), set(expected), "{name}");
            assert_eq!(
                def["additionalProperties"],
                Value::Bool(false),
                "{name} must deny unknown keys"
            );
        }
    }

    /// The descriptive types accept every spec the reader accepts, and refuse
    /// an unknown key as the reader does.
    #[test]
    fn schema_types_accept_the_starter_and_every_example() {
        let mut sources = vec![("STARTER_SPEC".to_owned(), crate::STARTER_SPEC.to_owned())];
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        for entry in std::fs::read_dir(examples).expect("examples/ exists") {
            let path = entry.expect("readable examples/").path().join("stockade.toml");
            if let Ok(text) = std::fs::read_to_string(&path) {
                sources.push((path.display().to_string(), text));
            }
        }
        assert!(sources.len() >= 3, "starter + quickstart + traitorsim");
        for (name, text) in sources {
            if let Err(e) = toml::from_str::<SpecFile>(&text) {
                panic!("{name} does not match the schema types: {e}");
            }
        }
        let unknown = "[service.a]\ncommand = [\"x\"]\ndepnds_on = {}\n";
        assert!(toml::from_str::<SpecFile>(unknown).is_err());
    }
}
