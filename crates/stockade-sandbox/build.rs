//! Builds `init/main.rs` — pid 1 of every walled box — into a small static
//! binary in OUT_DIR with the same `rustc` that builds this crate; `src/walls/init.rs`
//! embeds it with `include_bytes!`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rerun-if-changed=init/main.rs");
    println!("cargo:rerun-if-changed=../stockade-proto/src/log_record.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let status = Command::new(rustc)
        .args(["--edition", "2021", "--crate-name", "stockade_init", "--crate-type", "bin"])
        .args(["--target", &target])
        .args(["-C", "opt-level=3", "-C", "panic=abort", "-C", "strip=symbols"])
        .args(["-C", "target-feature=+crt-static", "-C", "codegen-units=1"])
        .arg("-o")
        .arg(out.join("stockade-init"))
        .arg("init/main.rs")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run rustc for init/main.rs");
    assert!(status.success(), "building init/main.rs failed: {status}");
}
