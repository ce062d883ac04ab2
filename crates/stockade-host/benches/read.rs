//! What a read of the host costs on this machine: the quick read (admission,
//! post-mortem snapshots), the deep read (doctor: walks every fd for inotify),
//! the config lint, and the pure parts (headroom, one adaptive step).
//!
//! `cargo bench -p stockade-host --bench read`

use std::hint::black_box;
use std::time::{Duration, Instant};
use stockade_host::{
    AdaptiveLimit, Depth, HostFacts, HostRoot, PressureSignals, Reserve, headroom, lint_checks,
};

fn measure(name: &str, iterations: u32, mut f: impl FnMut()) {
    f();
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[samples.len() * 9 / 10];
    println!("{name:<28} median {median:>10.1?}  p90 {p90:>10.1?}  ({iterations} runs)");
}

fn main() {
    let root = HostRoot::default();
    measure("HostFacts::read (quick)", 500, || {
        black_box(HostFacts::read_with(&root, Depth::Quick));
    });
    measure("HostFacts::read (deep)", 100, || {
        black_box(HostFacts::read_with(&root, Depth::Deep));
    });
    measure("lint_checks", 500, || {
        black_box(lint_checks(&root));
    });
    let facts = HostFacts::read(&root);
    measure("headroom", 10_000, || {
        black_box(headroom(black_box(&facts), &Reserve::default()));
    });
    let mut limit = AdaptiveLimit::new(1, 64);
    let start = Instant::now();
    let mut step = 0u64;
    measure("AdaptiveLimit::observe", 10_000, || {
        step += 1;
        let signals = PressureSignals {
            psi_memory_some_avg10: Some((step % 20) as f64),
            psi_cpu_some_avg10: Some(10.0),
            failure_rate: Some(0.0),
            busy: true,
        };
        black_box(limit.observe(start + Duration::from_secs(step * 15), signals));
    });
}
