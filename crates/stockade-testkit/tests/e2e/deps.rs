//! The dependency rules of DESIGN §3, checked over `cargo metadata` rather
//! than by review: `proto` and `linux` depend on nothing of ours; `sandbox`,
//! `host`, `store` and `spec` only on `proto` and `linux`; the engine never
//! imports axum or clap;
//! only `daemon` and `cli` use anyhow; miette's terminal rendering (`fancy`)
//! only in the CLI. A rule broken here fails CI with the edge that broke it.

use std::collections::BTreeMap;
use std::process::Command;

/// One declared dependency: its name, kind (`normal`, `dev`, `build`) and features.
#[derive(Debug)]
struct Dep {
    name: String,
    kind: String,
    features: Vec<String>,
}

/// Every workspace package and what its Cargo.toml declares.
fn declared() -> BTreeMap<String, Vec<Dep>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut packages = BTreeMap::new();
    for package in meta["packages"].as_array().expect("packages") {
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .map(|d| Dep {
                name: d["name"].as_str().unwrap_or_default().to_string(),
                kind: d["kind"].as_str().unwrap_or("normal").to_string(),
                features: d["features"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
            })
            .collect();
        packages.insert(package["name"].as_str().expect("name").to_string(), deps);
    }
    packages
}

/// The normal (non-dev, non-build) dependencies of `package`.
fn normal<'a>(packages: &'a BTreeMap<String, Vec<Dep>>, package: &str) -> Vec<&'a Dep> {
    packages
        .get(package)
        .unwrap_or_else(|| panic!("no workspace package {package}"))
        .iter()
        .filter(|d| d.kind == "normal")
        .collect()
}

#[test]
fn the_crate_graph_follows_the_design_rules() {
    let packages = declared();
    let ours = |d: &&&Dep| d.name.starts_with("stockade-");
    let mut broken = Vec::new();

    for base in ["stockade-proto", "stockade-linux"] {
        for dep in normal(&packages, base).iter().filter(ours) {
            broken.push(format!(
                "{base} depends on {} (it must depend on nothing of ours)",
                dep.name
            ));
        }
    }
    for leaf in ["stockade-sandbox", "stockade-host", "stockade-store", "stockade-spec"] {
        for dep in normal(&packages, leaf).iter().filter(ours) {
            if !["stockade-proto", "stockade-linux"].contains(&dep.name.as_str()) {
                broken.push(format!(
                    "{leaf} depends on {} (only stockade-proto and stockade-linux are allowed)",
                    dep.name
                ));
            }
        }
    }
    // The cluster's PostgreSQL queue: on proto and spec only, used by the
    // daemon only (the engine never knows whether it is in a cluster).
    for dep in normal(&packages, "stockade-cluster").iter().filter(ours) {
        if !["stockade-proto", "stockade-spec"].contains(&dep.name.as_str()) {
            broken.push(format!(
                "stockade-cluster depends on {} (only stockade-proto and stockade-spec are allowed)",
                dep.name
            ));
        }
    }
    for (package, deps) in &packages {
        if package != "stockade-daemon"
            && deps.iter().any(|d| d.kind == "normal" && d.name == "stockade-cluster")
        {
            broken.push(format!("{package} depends on stockade-cluster (only the daemon may)"));
        }
    }
    for dep in normal(&packages, "stockade-engine") {
        if ["axum", "clap", "hyper", "anyhow"].contains(&dep.name.as_str()) {
            broken.push(format!(
                "stockade-engine depends on {} (the engine has no HTTP, CLI or anyhow)",
                dep.name
            ));
        }
    }
    for (package, deps) in &packages {
        for dep in deps.iter().filter(|d| d.kind == "normal") {
            if dep.name == "anyhow"
                && !["stockade-daemon", "stockade-cli"].contains(&package.as_str())
            {
                broken.push(format!("{package} uses anyhow (only the daemon and the CLI may)"));
            }
            if dep.name == "miette"
                && dep.features.iter().any(|f| f == "fancy")
                && package != "stockade-cli"
            {
                broken.push(format!("{package} enables miette's `fancy` (only the CLI renders)"));
            }
        }
    }
    assert!(broken.is_empty(), "dependency rules broken:\n  {}", broken.join("\n  "));
}

#[test]
fn the_checker_sees_every_workspace_crate() {
    // Guards the check above against a metadata shape change that would make
    // it pass vacuously.
    let packages = declared();
    for name in [
        "stockade-proto",
        "stockade-linux",
        "stockade-sandbox",
        "stockade-engine",
        "stockade-daemon",
        "stockade-cli",
        "stockade-cluster",
    ] {
        assert!(
            packages.contains_key(name),
            "cargo metadata did not list {name}: {:?}",
            packages.keys()
        );
    }
    assert!(
        normal(&packages, "stockade-engine").iter().any(|d| d.name == "stockade-proto"),
        "the engine's declared dependencies were not read"
    );
}
