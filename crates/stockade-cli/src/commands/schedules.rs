//! The schedules table `status` and `ps` print: each job template with
//! `every` or `cron`, when it fires next, when it last fired, its live jobs.

use crate::render::{clock, duration_ms, table};
use stockade_proto::{ScheduleView, UnixMillis};

/// The table, or `None` when no template has a schedule.
pub fn schedule_table(schedules: &[ScheduleView], now: UnixMillis) -> Option<String> {
    if schedules.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            let next = match s.next_at {
                Some(at) => {
                    format!("in {} ({} UTC)", duration_ms(at.saturating_sub(now)), clock(at))
                }
                None => "-".to_owned(),
            };
            let last = match s.last_at {
                Some(at) => format!("{} ago", duration_ms(now.saturating_sub(at))),
                None => "never".to_owned(),
            };
            let mut live: Vec<String> = s.live.iter().map(|id| format!("job {id}")).collect();
            if let Some(slot) = s.pending {
                live.push(format!("1 pending ({})", clock(slot)));
            }
            vec![
                s.template.clone(),
                s.rule.clone(),
                next,
                last,
                format!("{}, catch_up {}", s.overlap, s.catch_up),
                if live.is_empty() { "-".to_owned() } else { live.join(", ") },
            ]
        })
        .collect();
    Some(table(&["SCHEDULE", "RULE", "NEXT", "LAST", "OVERLAP", "LIVE"], &rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_proto::JobId;

    #[test]
    fn the_schedules_table() {
        let now = 1_764_684_000_000; // 2025-12-02 14:00:00 UTC
        let schedules = vec![
            ScheduleView {
                template: "cleanup".into(),
                rule: "every 10m".into(),
                overlap: "skip".into(),
                catch_up: "none".into(),
                next_at: Some(now + 240_000),
                last_at: Some(now - 360_000),
                live: vec![JobId(41)],
                pending: None,
            },
            ScheduleView {
                template: "report".into(),
                rule: "cron 30 2 * * * (Europe/Berlin)".into(),
                overlap: "queue".into(),
                catch_up: "one".into(),
                next_at: Some(now + 12 * 3_600_000 + 30 * 60_000),
                last_at: None,
                live: vec![JobId(7)],
                pending: Some(now - 1000),
            },
        ];
        insta::assert_snapshot!(schedule_table(&schedules, now).unwrap());
        assert_eq!(schedule_table(&[], now), None);
    }
}
