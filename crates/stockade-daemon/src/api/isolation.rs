//! The `isolation` of each unit, added to the views the engine builds
//! (`/api/status`, `/api/services`, `/api/jobs`): the engine knows runs, the
//! daemon knows the spec, so the daemon marks every replica and job with its
//! unit's `"isolation"`, and `/api/status` lists the `"unwalled"` units.

use serde_json::Value;
use stockade_spec::Spec;

/// `"walls"` or `"none"` for the replica view or job view `item`.
fn of(spec: &Spec, item: &serde_json::Map<String, Value>) -> Option<&'static str> {
    if let Some(service) = item.get("service").and_then(Value::as_str) {
        return spec.service(service).map(|s| s.isolation.name());
    }
    let template = item.get("template").and_then(Value::as_str)?;
    spec.job(template).map(|j| j.isolation.name())
}

/// Add `"isolation"` to one view, or to each view of an array.
pub fn mark(spec: &Spec, value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| mark(spec, item)),
        Value::Object(map) => {
            if let Some(name) = of(spec, map) {
                map.insert("isolation".to_owned(), Value::from(name));
            }
        }
        _ => {}
    }
}

/// Every unit with `isolation = "none"`, as `service NAME` / `job NAME`.
pub fn unwalled(spec: &Spec) -> Vec<String> {
    let services = spec
        .services
        .iter()
        .filter(|s| s.isolation.walls().is_none())
        .map(|s| format!("service {}", s.name));
    let jobs = spec
        .jobs
        .values()
        .filter(|j| j.isolation.walls().is_none())
        .map(|j| format!("job {}", j.name));
    services.chain(jobs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_are_marked_with_their_units_isolation() {
        let text = "[service.a]\ncommand = [\"x\"]\n[service.b]\ncommand = [\"x\"]\nisolation = \"none\"\n[job.j]\ncommand = [\"x\"]\nisolation = \"none\"\n";
        let spec = Spec::parse(text, std::path::Path::new("/tmp/s.toml"), &|_| None).unwrap();
        let mut views =
            json!([{"service": "a"}, {"service": "b"}, {"template": "j"}, {"other": 1}]);
        mark(&spec, &mut views);
        assert_eq!(
            views,
            json!([
                {"service": "a", "isolation": "walls"},
                {"service": "b", "isolation": "none"},
                {"template": "j", "isolation": "none"},
                {"other": 1}
            ])
        );
        assert_eq!(unwalled(&spec), ["service b", "job j"]);
    }
}
