//! `[pool.NAME]` → [`PoolSpec`].

use super::table::{Reader, Table};
use crate::model::{Concurrency, DEFAULT_MAX_QUEUED, PoolSpec};
use crate::problem::Problem;

pub(crate) const POOL_KEYS: &[&str] =
    &["max_concurrency", "min", "max", "max_queued", "queue_timeout"];

impl Reader<'_> {
    pub(crate) fn pool(&mut self, name: &str, t: &Table<'_, '_>) -> PoolSpec {
        let mut pool = PoolSpec::implicit_default();
        pool.name = name.to_owned();
        pool.max_concurrency = self.concurrency(t);
        if let Some(n) = self.unsigned(t, "max_queued") {
            if n == 0 {
                self.out_of_range(t, "max_queued", n, "at least 1");
            } else {
                pool.max_queued = n;
            }
        } else {
            pool.max_queued = DEFAULT_MAX_QUEUED;
        }
        pool.queue_timeout = self.positive_duration(t, "queue_timeout");
        pool
    }

    fn concurrency(&mut self, t: &Table<'_, '_>) -> Concurrency {
        let fallback = PoolSpec::implicit_default().max_concurrency;
        let auto = t.get("max_concurrency").and_then(|v| v.get_ref().as_str()).map(str::to_owned);
        match auto.as_deref() {
            Some("auto") => {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
                let min = self.count(t, "min").unwrap_or(1);
                let max = self.count(t, "max").unwrap_or(cpus.saturating_mul(4).max(min));
                if max < min {
                    self.out_of_range(t, "max", max, &format!("at least min ({min})"));
                    return Concurrency::Auto { min, max: min };
                }
                Concurrency::Auto { min, max }
            }
            Some(other) => {
                let problem = Problem::WrongType {
                    key: t.key("max_concurrency"),
                    expected: "a number or \"auto\"",
                    found: if other.is_empty() { "an empty string" } else { "another string" },
                };
                self.report(problem, t.span_of("max_concurrency"));
                fallback
            }
            None => {
                for key in ["min", "max"] {
                    if t.get(key).is_some() {
                        let problem = Problem::OnlyApplies {
                            key: t.key(key),
                            when: "with max_concurrency = \"auto\"",
                        };
                        self.report(problem, t.span_of(key));
                    }
                }
                self.count(t, "max_concurrency").map_or(fallback, Concurrency::Fixed)
            }
        }
    }
}
