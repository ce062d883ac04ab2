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

/// One measurement under both settings, its samples in death order (the
/// i-th of each from the same round).
pub(crate) struct Pair {
    pub(crate) what: String,
    pub(crate) full: Vec<Duration>,
    pub(crate) normal: Vec<Duration>,
}

pub(crate) fn pair(what: &str, full: &[Duration], normal: &[Duration]) -> Pair {
    Pair { what: what.to_string(), full: full.to_vec(), normal: normal.to_vec() }
}

/// FULL and NORMAL side by side, with the median of the per-round
/// differences: robust to the disk's swings, which both sides of a round
/// share.
pub(crate) fn print_pairs(title: &str, pairs: &mut [Pair]) {
    println!("\n### {title}\n");
    println!(
        "| measurement | n | FULL median | FULL p90 | NORMAL median | NORMAL p90 | NORMAL − FULL, same round (median) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for p in pairs.iter_mut() {
        // Rounds pair up only when every round measured both sides.
        let delta = if p.full.len() == p.normal.len() && !p.full.is_empty() {
            let mut d: Vec<f64> = p
                .full
                .iter()
                .zip(&p.normal)
                .map(|(f, n)| n.as_secs_f64() - f.as_secs_f64())
                .collect();
            d.sort_by(f64::total_cmp);
            let ms = d[(d.len() - 1) / 2] * 1e3;
            format!("{ms:+.3} ms")
        } else {
            "–".to_string()
        };
        let (full, normal) = (quantiles(&mut p.full), quantiles(&mut p.normal));
        println!(
            "| {} | {}+{} | {} | {} | {} | {} | {delta} |",
            p.what,
            p.full.len(),
            p.normal.len(),
            full.0,
            full.1,
            normal.0,
            normal.1
        );
    }
}

/// Median and p90, formatted; dashes without samples.
fn quantiles(samples: &mut [Duration]) -> (String, String) {
    if samples.is_empty() {
        return ("–".into(), "–".into());
    }
    samples.sort();
    (fmt(quantile(samples, 0.5)), fmt(quantile(samples, 0.9)))
}
