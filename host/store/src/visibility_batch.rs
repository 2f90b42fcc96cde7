//! MySQL/MariaDB's form of a visibility write (mysql_batch.rs): `BEGIN` and the lookups of the
//! stored versions in one multi-statement query, then every write and `COMMIT` in another —
//! two round trips, where statement by statement a batch of upserts took six or seven (and a
//! prepared statement for each new shape of its text).
//!
//! A batch with a delete goes statement by statement: a delete looks at what the writes
//! before it in the same transaction left, which the lookups sent up front could not see.
//! Deletes come from retention and are rare.

use crate::mysql_batch::{Batch, Literal, MAX_BATCH_BYTES, push_statement};
use crate::sql::SqlStore;
use crate::visibility::Arg;
use crate::visibility_write::{
    Bound, Step, chunks, plan_upserts, steps, stored_versions, versions_query,
};
use crate::{Error, Result, VisibilityWrite};

impl Bound<'_> {
    /// The value as written into a batch; `None` for a NULL, which the text has already.
    fn literal(&self) -> Option<Literal<'_>> {
        match self {
            Bound::Arg(Arg::Text(s)) => Some(Literal::Bytes(s.as_bytes())),
            Bound::Arg(Arg::Int(v)) => Some(Literal::Int(*v)),
            Bound::Arg(Arg::Float(v)) => Some(Literal::Float(*v)),
            Bound::Arg(Arg::Null) => None,
            Bound::Bytes(b) => Some(Literal::Bytes(b)),
        }
    }
}

impl SqlStore {
    /// MySQL/MariaDB: applies `writes` in two round trips (see the module's comment).
    pub(crate) async fn write_visibility_as_batch(&self, writes: &[VisibilityWrite]) -> Result<()> {
        let mut steps = steps(writes);
        if steps.len() != 1 {
            return self.write_visibility_one_by_one(writes).await;
        }
        let Some(Step::Upserts(records)) = steps.pop() else {
            unreachable!("a batch without deletes is one run of upserts");
        };
        let chunks = chunks(records);
        let mut lookups = String::from("BEGIN");
        for (namespace_id, chunk) in &chunks {
            let keys = std::iter::once(*namespace_id).chain(chunk.iter().map(|r| &*r.run_id));
            push_statement(
                &mut lookups,
                &versions_query(chunk.len()),
                keys.map(|k| Literal::Bytes(k.as_bytes())),
            );
        }
        let mut batch = Batch::new(self.conn().await?);
        let answers = match batch.run(&lookups).await {
            Ok(answers) if answers.len() == chunks.len() + 1 => answers,
            outcome => {
                let _ = batch.end("ROLLBACK").await;
                return Err(match outcome {
                    Err(e) => e.into(),
                    Ok(answers) => Error::Database(sqlx::Error::Protocol(format!(
                        "{} lookups had {} answers",
                        chunks.len() + 1,
                        answers.len()
                    ))),
                });
            }
        };
        let mut planned = Vec::new();
        for ((namespace_id, chunk), answer) in chunks.iter().zip(&answers[1..]) {
            let stored = stored_versions(&answer.rows)?;
            planned.extend(plan_upserts(self.backend(), namespace_id, chunk, &stored));
        }
        let mut text = String::new();
        for p in &planned {
            push_statement(
                &mut text,
                &p.sql,
                p.values.iter().filter_map(Bound::literal),
            );
        }
        if text.len() > MAX_BATCH_BYTES {
            // Large records: prepared statements (values as bytes, not hex) in the same
            // transaction.
            for p in &planned {
                if let Err(e) = self.run_planned(batch.conn(), p).await {
                    let _ = batch.end("ROLLBACK").await;
                    return Err(e);
                }
            }
            return batch.end("COMMIT").await;
        }
        push_statement(&mut text, "COMMIT", std::iter::empty());
        batch.run_to_end(&text).await
    }
}
