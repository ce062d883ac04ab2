//! The JSON Schema of `stockade.toml` ([`json_schema`]), generated from the
//! descriptive types in `file`, committed at `schema/stockade.schema.json` for
//! editors (taplo, VS Code "Even Better TOML") and kept current by a test.

mod file;
mod values;

pub(crate) use file::SpecFile;

/// The JSON Schema (draft 2020-12) of `stockade.toml`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(SpecFile);
    // A Schema is a JSON value already; this conversion cannot fail.
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::json_schema;
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
            ("DefaultsTable", read::DEFAULTS_KEYS),
            ("LimitsTable", read::LIMITS_KEYS),
            ("PoolTable", read::POOL_KEYS),
            ("ServiceTable", read::SERVICE_KEYS),
            ("BackoffTable", read::BACKOFF_KEYS),
            ("StartLimitTable", read::START_LIMIT_KEYS),
            ("StopTable", read::STOP_KEYS),
            ("ProbeTable", read::PROBE_KEYS),
            ("JobTable", read::JOB_KEYS),
            ("RetriesTable", read::RETRIES_KEYS),
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
}
