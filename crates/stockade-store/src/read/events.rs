//! Event queries: what SSE clients resume from.

use super::collect;
use crate::codec::{self, Cell};
use crate::sql::SqlResultExt;
use crate::{Store, StoreError};
use rusqlite::Row;
use std::path::Path;
use stockade_proto::{Event, Seq};

impl Store {
    /// Up to `limit` events with `seq > after`, oldest first. Events older
    /// than the retention window are gone; the first returned seq then jumps.
    pub fn events_since(&self, after: Seq, limit: usize) -> Result<Vec<Event>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, at, unit, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .at(path)?;
            let rows = stmt.query(rusqlite::params![after.0, limit]).at(path)?;
            collect(rows, path, event_from_row)
        })
    }

    /// Up to `limit` events with `seq < before`, newest first: for walking
    /// back from the end (a `tail` of events that match a filter).
    pub fn events_before(&self, before: Seq, limit: usize) -> Result<Vec<Event>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = i64::try_from(before.0).unwrap_or(i64::MAX);
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, at, unit, body FROM events WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
                )
                .at(path)?;
            let rows = stmt.query(rusqlite::params![before, limit]).at(path)?;
            collect(rows, path, event_from_row)
        })
    }

    /// The highest seq ever assigned (0 for a new store). Taken from SQLite's
    /// AUTOINCREMENT counter, so it stays right even when every event was pruned.
    pub fn last_seq(&self) -> Result<Seq, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt = conn
                .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
                .at(path)?;
            let seq: Option<u64> = stmt
                .query([])
                .at(path)?
                .next()
                .at(path)?
                .map(|row| row.get(0))
                .transpose()
                .at(path)?;
            Ok(Seq(seq.unwrap_or(0)))
        })
    }
}

fn event_from_row(row: &Row<'_>, path: &Path) -> Result<Event, StoreError> {
    let seq: i64 = row.get(0).at(path)?;
    let body: String = row.get(3).at(path)?;
    Ok(Event {
        seq: Seq(seq as u64),
        at: row.get(1).at(path)?,
        unit: row.get(2).at(path)?,
        kind: codec::from_json(Cell { table: "events", id: seq, column: "body" }, &body)?,
    })
}
