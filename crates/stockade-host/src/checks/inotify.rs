//! inotify instances and watches per user. Agents that watch files (dev
//! servers, editors, node tooling) open instances; the common default of 128
//! instances per user runs out long before memory does.

use super::{UsageRule, percent, sysctl_fix, unknown};
use crate::HostFacts;
use stockade_proto::{Check, CheckStatus};

const INSTANCES_FLOOR: u64 = 512;
const WATCHES_FLOOR: u64 = 65536;

/// The `inotify_instances` and `inotify_watches` checks.
pub fn checks(facts: &HostFacts) -> Vec<Check> {
    let limits = match &facts.inotify_limits {
        Ok(limits) => limits,
        Err(why) => {
            return vec![
                unknown("inotify_instances", "fs.inotify.max_user_instances", why, None),
                unknown("inotify_watches", "fs.inotify.max_user_watches", why, None),
            ];
        }
    };
    let usage = facts.inotify_usage.as_ref().ok();
    vec![
        one(Dimension {
            id: "inotify_instances",
            noun: "instances",
            limit: limits.max_user_instances,
            used: usage.map(|u| (u.uid, u.instances)),
            floor: INSTANCES_FLOOR,
            sysctl: "fs.inotify.max_user_instances",
            recommend: 8192,
        }),
        one(Dimension {
            id: "inotify_watches",
            noun: "watches",
            limit: limits.max_user_watches,
            used: usage.map(|u| (u.uid, u.watches)),
            floor: WATCHES_FLOOR,
            sysctl: "fs.inotify.max_user_watches",
            recommend: 524_288,
        }),
    ]
}

struct Dimension {
    id: &'static str,
    noun: &'static str,
    limit: u64,
    used: Option<(u32, u64)>,
    floor: u64,
    sysctl: &'static str,
    recommend: u64,
}

fn one(d: Dimension) -> Check {
    let by_usage = d
        .used
        .map_or(CheckStatus::Ok, |(_, used)| UsageRule::ratio(0.80, 0.95).judge(used, d.limit));
    let by_floor = if d.limit < d.floor { CheckStatus::Warn } else { CheckStatus::Ok };
    let status = by_usage.max(by_floor);
    let mut message = match d.used {
        Some((uid, used)) => format!(
            "the busiest uid ({uid}) holds {used} of {} {} per user ({})",
            d.limit,
            d.noun,
            percent(used, d.limit)
        ),
        None => format!("{} {} per user (use not counted)", d.limit, d.noun),
    };
    if by_floor != CheckStatus::Ok {
        message.push_str(&format!(
            "; below {}, agents that watch files run out (\"too many open files\" from inotify_init)",
            d.floor
        ));
    }
    Check {
        id: d.id.into(),
        status,
        value: d.used.map(|(_, used)| used.to_string()),
        limit: Some(d.limit.to_string()),
        message,
        fix: (status != CheckStatus::Ok)
            .then(|| sysctl_fix(d.sysctl, d.recommend.max(d.limit * 2))),
    }
}
