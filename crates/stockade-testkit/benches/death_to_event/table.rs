//! The markdown tables the bench prints: quantiles of latency samples.

use std::time::Duration;

pub(crate) struct Row {
    pub(crate) what: String,
    pub(crate) samples: Vec<Duration>,
}

pub(crate) fn row(what: &str, samples: Vec<Duration>) -> Row {
    Row { what: what.to_string(), samples }
}

pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub(crate) fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3} ms", d.as_secs_f64() * 1e3)
    }
}

pub(crate) fn print_table(title: &str, rows: &mut [Row]) {
    println!("\n### {title}\n");
    println!("| measurement | n | median | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows.iter_mut() {
        if r.samples.is_empty() {
            println!("| {} | 0 | – | – | – | – |", r.what);
            continue;
        }
        r.samples.sort();
        let s = &r.samples;
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            s.len(),
            fmt(quantile(s, 0.5)),
            fmt(quantile(s, 0.9)),
            fmt(quantile(s, 0.99)),
            fmt(s[s.len() - 1])
        );
    }
}

pub(crate) fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    if s.is_empty() { Duration::ZERO } else { quantile(&s, 0.5) }
}
