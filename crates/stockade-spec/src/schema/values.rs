//! Scalar value types of the spec (durations, sizes, limits, names) with
//! hand-written schemas, since their syntax is richer than a JSON type.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

const DURATION_PATTERN: &str = "^(0|([0-9]+(ms|s|m|h|d))+)$";
const SIZE_PATTERN: &str = "^[0-9]+(\\.[0-9]+)? ?(B|K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?$";
/// Names of services, jobs and pools (see `read::valid_name`).
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// A duration string.
#[derive(Deserialize)]
pub(crate) struct Duration(#[allow(dead_code)] String);

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: whole numbers with units ms, s, m, h, d, e.g. \"100ms\", \"5m\", \"1h30m\".",
            "type": "string",
            "pattern": DURATION_PATTERN,
        })
    }
}

/// A size: bytes as an integer or a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Size {
    Bytes(#[allow(dead_code)] u64),
    Text(#[allow(dead_code)] String),
}

fn size_schema() -> Schema {
    json_schema!({
        "description": "A size: an integer of bytes, or a string with a binary (KiB, MiB, GiB, TiB) or decimal (K/KB, M/MB, G/GB, T/TB) unit, e.g. \"512MiB\".",
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": SIZE_PATTERN }
        ]
    })
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        size_schema()
    }
}

/// A size limit, or `"unlimited"`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum SizeLimit {
    Size(#[allow(dead_code)] Size),
}

impl JsonSchema for SizeLimit {
    fn schema_name() -> Cow<'static, str> {
        "SizeLimit".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size limit, or \"unlimited\" to remove an inherited one.",
            "anyOf": [ generator.subschema_for::<Size>(), { "const": "unlimited" } ]
        })
    }
}

/// A count limit (at least 1), or `"unlimited"`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum CountLimit {
    Count(#[allow(dead_code)] u64),
    Unlimited(#[allow(dead_code)] String),
}

impl JsonSchema for CountLimit {
    fn schema_name() -> Cow<'static, str> {
        "CountLimit".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A count of at least 1, or \"unlimited\" to remove an inherited one.",
            "anyOf": [ { "type": "integer", "minimum": 1 }, { "const": "unlimited" } ]
        })
    }
}

/// A CPU quota (at least 0.01), or `"unlimited"`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum CpuLimit {
    Cpus(#[allow(dead_code)] f64),
    Unlimited(#[allow(dead_code)] String),
}

impl JsonSchema for CpuLimit {
    fn schema_name() -> Cow<'static, str> {
        "CpuLimit".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "CPUs of quota (1.5 = one and a half cores), at least 0.01, or \"unlimited\".",
            "anyOf": [ { "type": "number", "minimum": 0.01 }, { "const": "unlimited" } ]
        })
    }
}

/// `max_concurrency`: a number or `"auto"`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Concurrency {
    Fixed(#[allow(dead_code)] u32),
    Auto(#[allow(dead_code)] String),
}

impl JsonSchema for Concurrency {
    fn schema_name() -> Cow<'static, str> {
        "Concurrency".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "How many jobs of the pool run at once: a number, or \"auto\" for adaptive admission between min and max.",
            "anyOf": [ { "type": "integer", "minimum": 1 }, { "const": "auto" } ]
        })
    }
}

/// A signal name.
#[derive(Deserialize)]
pub(crate) struct Signal(#[allow(dead_code)] String);

impl JsonSchema for Signal {
    fn schema_name() -> Cow<'static, str> {
        "Signal".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> =
            stockade_linux::Signal::all().map(stockade_linux::Signal::name).collect();
        json_schema!({
            "description": "A signal name, e.g. \"SIGTERM\" (the SIG prefix and case are optional).",
            "type": "string",
            "examples": names,
        })
    }
}
