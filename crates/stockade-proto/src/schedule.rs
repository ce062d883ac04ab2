//! Schedules as the API shows them: [`ScheduleView`] (`GET /api/schedules`,
//! `schedules` of `GET /api/status`) and [`JobSource`], who submitted a job.

use crate::{JobId, UnixMillis};
use serde::{Deserialize, Serialize};

/// Who submitted a job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobSource {
    /// A client of the API (`stockade run`, `POST /api/jobs`).
    #[default]
    Api,
    /// The template's own schedule (`every` or `cron`).
    Schedule,
}

impl JobSource {
    /// How the store and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobSource::Api => "api",
            JobSource::Schedule => "schedule",
        }
    }

    /// The source written `text`.
    pub fn from_name(text: &str) -> Option<JobSource> {
        match text {
            "api" => Some(JobSource::Api),
            "schedule" => Some(JobSource::Schedule),
            _ => None,
        }
    }

    /// True for [`JobSource::Api`] (left out of JSON views).
    pub fn is_api(&self) -> bool {
        *self == JobSource::Api
    }
}

/// One job template's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScheduleView {
    /// The `[job.NAME]` template (the schedule's name).
    pub template: String,
    /// The rule in words: `every 10m`, `cron */10 * * * * (Europe/Berlin)`.
    pub rule: String,
    /// `skip`, `queue` or `allow`.
    pub overlap: String,
    /// `none` or `one`.
    pub catch_up: String,
    /// The next slot (absent once a cron expression has no more matches, or
    /// during a shutdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<UnixMillis>,
    /// The last slot that fired or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<UnixMillis>,
    /// Jobs of this schedule queued or running now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live: Vec<JobId>,
    /// A slot that waits for the live runs to end (`overlap = "queue"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<UnixMillis>,
}
