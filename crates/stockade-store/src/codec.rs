//! How Rust values become columns and back: enums as their wire names,
//! structured values as JSON text. Decoding failures name the table, row and
//! column ([`StoreError::BadRow`]) instead of panicking on a hand-edited file.

use crate::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use stockade_proto::{JobSource, JobState, UnitKind};

/// Every job state, for parsing its wire name.
const JOB_STATES: [JobState; 7] = [
    JobState::Queued,
    JobState::Running,
    JobState::Succeeded,
    JobState::Failed,
    JobState::Cancelled,
    JobState::Expired,
    JobState::Rejected,
];

/// Where a decoded value came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell {
    pub table: &'static str,
    pub id: i64,
    pub column: &'static str,
}

impl Cell {
    fn bad(self, detail: impl Into<String>) -> StoreError {
        StoreError::BadRow {
            table: self.table,
            id: self.id,
            column: self.column,
            detail: detail.into(),
        }
    }
}

pub(crate) fn job_state(cell: Cell, text: &str) -> Result<JobState, StoreError> {
    JOB_STATES
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| cell.bad(format!("`{text}` is not a job state")))
}

pub(crate) fn job_source(cell: Cell, text: &str) -> Result<JobSource, StoreError> {
    JobSource::from_name(text).ok_or_else(|| cell.bad(format!("`{text}` is not a job source")))
}

pub(crate) fn unit_kind_name(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Service => "service",
        UnitKind::Job => "job",
    }
}

pub(crate) fn unit_kind(cell: Cell, text: &str) -> Result<UnitKind, StoreError> {
    match text {
        "service" => Ok(UnitKind::Service),
        "job" => Ok(UnitKind::Job),
        other => Err(cell.bad(format!("`{other}` is not a unit kind"))),
    }
}

/// Encode a value as JSON text. Only the proto types go through here; their
/// serialisation cannot fail (no maps with non-string keys), so a failure is
/// reported as a bad row rather than a panic.
pub(crate) fn to_json<T: Serialize>(cell: Cell, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| cell.bad(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(cell: Cell, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| cell.bad(e.to_string()))
}

pub(crate) fn opt_from_json<T: DeserializeOwned>(
    cell: Cell,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| from_json(cell, &t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: Cell = Cell { table: "jobs", id: 1, column: "state" };

    #[test]
    fn every_job_state_round_trips_through_its_wire_name() {
        for state in JOB_STATES {
            assert_eq!(job_state(CELL, state.as_str()).unwrap(), state);
        }
    }

    #[test]
    fn unknown_names_are_bad_rows_naming_the_cell() {
        let err = job_state(CELL, "sleeping").unwrap_err();
        assert!(err.to_string().contains("jobs row 1"), "{err}");
        assert!(unit_kind(CELL, "daemon").is_err());
    }
}
