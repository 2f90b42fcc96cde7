//! MySQL/MariaDB's and PostgreSQL's form of a visibility write (text_batch.rs): `BEGIN` and
//! the lookups of the stored versions in one multi-statement query, then every write and
//! `COMMIT` in another — two round trips, where statement by statement a batch of upserts
//! took six or seven (and a prepared statement for each new shape of its text).
//!
//! A batch with a delete goes statement by statement: a delete looks at what the writes
//! before it in the same transaction left, which the lookups sent up front could not see.
//! Deletes come from retention and are rare.

use crate::sql::SqlStore;
use crate::text_batch::{Answer, Batch, Literal, MAX_BATCH_BYTES, push_statement};
use crate::visibility::Arg;
use crate::visibility_write::{
    Bound, Planned, Step, chunks, plan_upserts, steps, stored_versions, versions_query,
};
use crate::{Error, Result, VisibilityRecord, VisibilityWrite};

impl Bound<'_> {
    /// The value as written into a batch; `None` for a NULL, which the text has already.
    fn literal(&self) -> Option<Literal<'_>> {
        match self {
            Bound::Arg(Arg::Text(s)) => Some(Literal::Text(s)),
            Bound::Arg(Arg::Int(v)) => Some(Literal::Int(*v)),
            Bound::Arg(Arg::Float(v)) => Some(Literal::Float(*v)),
            Bound::Arg(Arg::Null) => None,
            Bound::Bytes(b) => Some(Literal::Bytes(b)),
        }
    }
}

impl SqlStore {
    /// MySQL/MariaDB and PostgreSQL: applies `writes` in two round trips (see the module's comment).
    pub(crate) async fn write_visibility_as_batch(&self, writes: &[VisibilityWrite]) -> Result<()> {
        let records = match <[Step; 1]>::try_from(steps(writes)) {
            Ok([Step::Upserts(records)]) => records,
            _ => return self.write_visibility_one_by_one(writes).await,
        };
        let chunks = chunks(records);
        let mut lookups = String::from("BEGIN");
        for (namespace_id, chunk) in &chunks {
            let keys = std::iter::once(*namespace_id).chain(chunk.iter().map(|r| &*r.run_id));
            push_statement(
                &mut lookups,
                self.backend(),
                &versions_query(chunk.len()),
                keys.map(Literal::Text),
            );
        }
        let mut batch = Batch::new(self.conn().await?);
        let planned = match batch.run(&lookups).await {
            Ok(answers) => self.plan_batch(&chunks, &answers),
            Err(e) => Err(e.into()),
        };
        let planned = match planned {
            Ok(planned) => planned,
            Err(e) => return batch.finish(Err(e)).await,
        };
        let mut text = String::new();
        for p in &planned {
            push_statement(
                &mut text,
                self.backend(),
                &p.sql,
                p.values.iter().filter_map(Bound::literal),
            );
        }
        if text.len() > MAX_BATCH_BYTES {
            // Large records: prepared statements (values as bytes, not hex) in the same
            // transaction.
            let mut outcome = Ok(());
            for p in &planned {
                outcome = self.run_planned(batch.conn(), p).await;
                if outcome.is_err() {
                    break;
                }
            }
            return batch.finish(outcome).await;
        }
        push_statement(&mut text, self.backend(), "COMMIT", std::iter::empty());
        batch.run_to_end(&text).await
    }

    /// The writes of `chunks` over the versions their lookups found (`answers`, the first
    /// BEGIN's).
    fn plan_batch<'a>(
        &self,
        chunks: &[(&str, Vec<&'a VisibilityRecord>)],
        answers: &[Answer],
    ) -> Result<Vec<Planned<'a>>> {
        if answers.len() != chunks.len() + 1 {
            return Err(Error::Database(sqlx::Error::Protocol(format!(
                "{} lookups had {} answers",
                chunks.len() + 1,
                answers.len()
            ))));
        }
        let mut planned = Vec::new();
        for ((namespace_id, chunk), answer) in chunks.iter().zip(&answers[1..]) {
            let stored = stored_versions(&answer.rows)?;
            planned.extend(plan_upserts(self.backend(), namespace_id, chunk, &stored));
        }
        Ok(planned)
    }
}
