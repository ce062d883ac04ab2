//! Schedule queries: the last slot each job template's schedule handled.

use crate::sql::SqlResultExt;
use crate::{Store, StoreError};
use std::collections::BTreeMap;
use stockade_proto::UnixMillis;

impl Store {
    /// The last slot each template's schedule fired or skipped, by template
    /// (templates whose schedule never fired are absent).
    pub fn schedule_slots(&self) -> Result<BTreeMap<String, UnixMillis>, StoreError> {
        self.readers().with(|conn, path| {
            let mut stmt =
                conn.prepare_cached("SELECT template, last_slot FROM schedules").at(path)?;
            let rows = stmt
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
                .at(path)?;
            let mut slots = BTreeMap::new();
            for row in rows {
                let (template, slot) = row.at(path)?;
                slots.insert(template, slot.max(0) as UnixMillis);
            }
            Ok(slots)
        })
    }
}
