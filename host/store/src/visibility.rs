//! Visibility on SQL: resolved query filters become WHERE clauses; records are written in
//! batches, versioned so an older write never replaces a newer one.
//!
//! System attributes are columns of `visibility`. Custom and predefined attributes are rows of
//! `visibility_attrs` (one per value; one per token for Text), matched with `run_id IN
//! (subquery)` so each index is used from the selective side. Filters are in negation normal
//! form (the resolver pushes NOT down to the atoms), so an atom's SQL only has to be true
//! exactly when the atom is: a missing attribute never matches, negated or not.

use async_trait::async_trait;
use sqlx::Row;
use sundial_visquery::{Cmp, Column, Field, text_tokens};

use crate::sql::decode_text;
use crate::*;

/// Where a listing page ended: the last row's sort key. Encoded as the page token
/// `sort_time:start_time:run_id`.
pub(crate) struct Cursor {
    sort_time: i64,
    start_time: i64,
    run_id: String,
}

impl Cursor {
    fn encode(&self) -> Vec<u8> {
        format!("{}:{}:{}", self.sort_time, self.start_time, self.run_id).into_bytes()
    }

    fn decode(token: &[u8]) -> Result<Cursor> {
        let text = std::str::from_utf8(token).map_err(|_| Error::BadPageToken)?;
        let mut parts = text.splitn(3, ':');
        let mut int = || -> Result<i64> {
            parts
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or(Error::BadPageToken)
        };
        let (sort_time, start_time) = (int()?, int()?);
        let run_id = parts.next().ok_or(Error::BadPageToken)?.to_string();
        Ok(Cursor {
            sort_time,
            start_time,
            run_id,
        })
    }
}

/// A bound parameter.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Float(f64),
    /// Written as a `NULL` literal, never bound: through sqlx's `Any` driver a bound NULL has
    /// no type, and PostgreSQL's cached statement would keep the type it guessed for the
    /// next execution of the same text with a value in that place.
    Null,
}

impl From<&Value> for Arg {
    fn from(v: &Value) -> Arg {
        match v {
            Value::Str(s) => Arg::Text(s.clone()),
            Value::Int(i) | Value::Time(i) => Arg::Int(*i),
            Value::Double(d) => Arg::Float(*d),
            Value::Bool(b) => Arg::Int(*b as i64),
        }
    }
}

pub(crate) fn bind_args<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
            Arg::Float(f) => q.bind(*f),
            Arg::Null => q,
        };
    }
    q
}

fn column_sql(c: Column) -> &'static str {
    match c {
        Column::WorkflowId => "workflow_id",
        Column::RunId => "run_id",
        Column::WorkflowType => "workflow_type",
        Column::TaskQueue => "task_queue",
        Column::ExecutionStatus => "status",
        Column::StartTime => "start_time",
        Column::ExecutionTime => "execution_time",
        Column::CloseTime => "close_time",
        Column::HistoryLength => "history_length",
        Column::HistorySizeBytes => "history_size_bytes",
        Column::StateTransitionCount => "state_transition_count",
        Column::ExecutionDuration => "execution_duration",
        Column::ParentWorkflowId => "parent_workflow_id",
        Column::ParentRunId => "parent_run_id",
        Column::RootWorkflowId => "root_workflow_id",
        Column::RootRunId => "root_run_id",
    }
}

/// The `visibility_attrs` column holding values of a type.
pub(crate) fn value_column(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Keyword | ValueType::Text | ValueType::KeywordList => "str_value",
        ValueType::Int | ValueType::Bool | ValueType::Datetime => "num_value",
        ValueType::Double => "dbl_value",
    }
}

/// A LIKE pattern for "starts with `prefix`", escaped with `!`.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Builds a WHERE clause with `?` placeholders and its arguments.
pub(crate) struct Where {
    pub sql: String,
    pub args: Vec<Arg>,
    namespace_id: String,
    backend: Backend,
    /// Attribute tests as correlated `EXISTS` probes of each candidate run instead of
    /// `run_id IN (runs with the attribute)`: see [`SqlStore::list_visibility`].
    correlated: bool,
    /// An attribute test is written as its bare `SELECT a.run_id …` (for counting its rows).
    bare: bool,
}

impl Where {
    pub fn new(namespace_id: &str, backend: Backend) -> Where {
        Where {
            sql: "v.namespace_id = ?".into(),
            args: vec![Arg::Text(namespace_id.to_string())],
            namespace_id: namespace_id.to_string(),
            backend,
            correlated: false,
            bare: false,
        }
    }

    /// `SELECT a.run_id FROM visibility_attrs a WHERE …`: the attribute rows a positive
    /// attribute atom (see [`positive_attr_atom`]) is true for.
    fn atom_rows(namespace_id: &str, backend: Backend, atom: &Filter) -> Where {
        let mut w = Where {
            sql: String::new(),
            args: Vec::new(),
            namespace_id: namespace_id.to_string(),
            backend,
            correlated: false,
            bare: true,
        };
        w.filter(atom);
        w
    }

    pub fn and_filter(&mut self, f: &Filter) {
        self.sql.push_str(" AND ");
        self.filter(f);
    }

    pub fn and_after(&mut self, c: &Cursor) {
        self.sql.push_str(
            " AND (v.sort_time < ? OR (v.sort_time = ? AND (v.start_time < ? OR (v.start_time = ? AND v.run_id > ?))))",
        );
        self.args.extend([
            Arg::Int(c.sort_time),
            Arg::Int(c.sort_time),
            Arg::Int(c.start_time),
            Arg::Int(c.start_time),
            Arg::Text(c.run_id.clone()),
        ]);
    }

    fn filter(&mut self, f: &Filter) {
        match f {
            Filter::And(parts) | Filter::Or(parts) => {
                let joiner = if matches!(f, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.sql.push('(');
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(joiner);
                    }
                    self.filter(p);
                }
                self.sql.push(')');
            }
            Filter::Compare { field, op, value } => {
                // A closed run's sort time is its close time (a running run's is the largest
                // value, and its close time NULL): the same test on sort_time is implied, and
                // lets the ordered indexes take a close-time range.
                let close_time = *field == Field::System(Column::CloseTime) && *op != Cmp::Ne;
                if close_time {
                    self.sql.push('(');
                }
                self.atom(field, false, |w, col| {
                    w.sql.push_str(&format!("{col} {} ?", op.symbol()));
                    w.args.push(value.into());
                });
                if close_time {
                    self.sql
                        .push_str(&format!(" AND v.sort_time {} ?)", op.symbol()));
                    self.args.push(value.into());
                }
            }
            Filter::In {
                field,
                values,
                negated,
            } => self.atom(field, *negated, |w, col| {
                let marks = vec!["?"; values.len()].join(", ");
                w.sql.push_str(&format!("{col} IN ({marks})"));
                w.args.extend(values.iter().map(Arg::from));
            }),
            Filter::Between {
                field,
                low,
                high,
                negated,
            } => self.atom(field, *negated, |w, col| {
                w.sql.push_str(&format!("{col} BETWEEN ? AND ?"));
                w.args.push(low.into());
                w.args.push(high.into());
            }),
            Filter::StartsWith {
                field,
                prefix,
                negated,
            } => self.atom(field, *negated, |w, col| {
                // Case-insensitive for ASCII, as Temporal's SQLite store (LIKE) answers.
                let test = match w.backend {
                    Backend::Sqlite => format!("{col} LIKE ? ESCAPE '!'"),
                    Backend::Postgres => format!("lower({col}) LIKE lower(?) ESCAPE '!'"),
                    // Binary columns: lower-cased on both sides, through the indexed generated
                    // copies (migration 0003) where there are some.
                    Backend::Mysql => {
                        let lowered =
                            if matches!(col, "v.workflow_id" | "v.workflow_type" | "a.str_value") {
                                format!("{col}_lower")
                            } else {
                                format!("LOWER(CONVERT({col} USING utf8mb4))")
                            };
                        format!("{lowered} LIKE LOWER(CONVERT(? USING utf8mb4)) ESCAPE '!'")
                    }
                };
                w.sql.push_str(&test);
                w.args.push(Arg::Text(like_prefix(prefix)));
            }),
            Filter::Contains {
                field,
                values,
                negated,
            } => {
                let Field::Attr { name, ty } = field else {
                    self.sql.push_str("1 = 0");
                    return;
                };
                self.attr_test(*negated, name, *ty, |w| {
                    let marks = vec!["?"; values.len()].join(", ");
                    w.sql.push_str(&format!("a.str_value IN ({marks})"));
                    w.args.extend(values.iter().map(|v| Arg::Text(v.clone())));
                });
            }
            Filter::TextMatch {
                field,
                words,
                negated,
            } => self.text_match(field, words, *negated),
            Filter::IsNull { field, negated } => match field {
                Field::System(c) => {
                    let not = if *negated { " NOT" } else { "" };
                    self.sql
                        .push_str(&format!("v.{} IS{not} NULL", column_sql(*c)));
                }
                Field::Attr { name, ty } => self.attr_test(!*negated, name, *ty, |_| {}),
            },
        }
    }

    /// Whether the run has (`negated`: has no) row of this attribute [where `cond` holds]:
    /// `v.run_id [NOT] IN (SELECT run_id FROM visibility_attrs WHERE …)`, or as a correlated
    /// `[NOT] EXISTS (…)` probe of the run's own rows.
    fn attr_test(
        &mut self,
        negated: bool,
        name: &str,
        ty: ValueType,
        cond: impl FnOnce(&mut Where),
    ) {
        let not = if negated { "NOT " } else { "" };
        if self.bare {
            self.attr_select(name, ty, cond);
            return;
        }
        if self.correlated {
            self.sql.push_str(&format!(
                "{not}EXISTS (SELECT 1 FROM visibility_attrs a WHERE a.namespace_id = v.namespace_id AND a.run_id = v.run_id AND a.name = ? AND a.ty = ?"
            ));
            self.args.push(Arg::Text(name.to_string()));
            self.args.push(Arg::Int(ty as i64));
            self.and_cond(cond);
        } else {
            self.sql.push_str(&format!("v.run_id {not}IN ("));
            self.attr_select(name, ty, cond);
        }
        self.sql.push(')');
    }

    /// ` AND <cond>`, or nothing when `cond` writes nothing.
    fn and_cond(&mut self, cond: impl FnOnce(&mut Where)) {
        let before = self.sql.len();
        self.sql.push_str(" AND ");
        cond(self);
        if self.sql.len() == before + 5 {
            self.sql.truncate(before);
        }
    }

    /// The same without parentheses (a member of a UNION).
    fn attr_select(&mut self, name: &str, ty: ValueType, cond: impl FnOnce(&mut Where)) {
        self.sql.push_str(
            "SELECT a.run_id FROM visibility_attrs a WHERE a.namespace_id = ? AND a.name = ? AND a.ty = ?",
        );
        self.args.push(Arg::Text(self.namespace_id.clone()));
        self.args.push(Arg::Text(name.to_string()));
        self.args.push(Arg::Int(ty as i64));
        self.and_cond(cond);
    }

    /// One predicate on a field. For a system column it is the condition itself (negated with
    /// NOT, which SQL keeps unknown for NULL). For an attribute, positive: some value
    /// matches; negated: the attribute is set and no value matches.
    fn atom(&mut self, field: &Field, negated: bool, cond: impl Fn(&mut Where, &str)) {
        match field {
            Field::System(c) => {
                let col = format!("v.{}", column_sql(*c));
                if negated {
                    self.sql.push_str("NOT (");
                    cond(self, &col);
                    self.sql.push(')');
                } else {
                    cond(self, &col);
                }
            }
            Field::Attr { name, ty } => {
                let col = format!("a.{}", value_column(*ty));
                if negated {
                    self.sql.push('(');
                    self.attr_test(false, name, *ty, |_| {});
                    self.sql.push_str(" AND ");
                    self.attr_test(true, name, *ty, |w| cond(w, &col));
                    self.sql.push(')');
                } else {
                    self.attr_test(false, name, *ty, |w| cond(w, &col));
                }
            }
        }
    }

    /// Text: some word's tokens all occur among the attribute's stored tokens. Unset text
    /// never matches, so the negation holds for it.
    fn text_match(&mut self, field: &Field, words: &[Vec<String>], negated: bool) {
        let Field::Attr { name, ty } = field else {
            self.sql.push_str("1 = 0");
            return;
        };
        let not = if negated { " NOT" } else { "" };
        self.sql.push_str(&format!("v.run_id{not} IN ("));
        let singles: Vec<&String> = words
            .iter()
            .filter(|w| w.len() == 1)
            .map(|w| &w[0])
            .collect();
        let mut first = true;
        if !singles.is_empty() {
            self.attr_select(name, *ty, |w| {
                let marks = vec!["?"; singles.len()].join(", ");
                w.sql.push_str(&format!("a.str_value IN ({marks})"));
                w.args
                    .extend(singles.iter().map(|t| Arg::Text((*t).clone())));
            });
            first = false;
        }
        for word in words.iter().filter(|w| w.len() > 1) {
            let mut tokens = word.clone();
            tokens.sort();
            tokens.dedup();
            if !first {
                self.sql.push_str(" UNION ");
            }
            first = false;
            let marks = vec!["?"; tokens.len()].join(", ");
            self.sql.push_str(&format!(
                "SELECT a.run_id FROM visibility_attrs a WHERE a.namespace_id = ? AND a.name = ? AND a.ty = ? AND a.str_value IN ({marks}) GROUP BY a.run_id HAVING COUNT(DISTINCT a.str_value) = ?"
            ));
            self.args.push(Arg::Text(self.namespace_id.clone()));
            self.args.push(Arg::Text(name.clone()));
            self.args.push(Arg::Int(*ty as i64));
            self.args
                .extend(tokens.iter().map(|t| Arg::Text(t.clone())));
            self.args.push(Arg::Int(tokens.len() as i64));
        }
        if first {
            self.sql
                .push_str("SELECT a.run_id FROM visibility_attrs a WHERE 1 = 0");
        }
        self.sql.push(')');
    }
}

/// Whether the filter requires one value of a column whose index is in listing order
/// (`vis_workflow_id`, `vis_workflow_type`, `vis_status`, `vis_task_queue`).
///
/// MariaDB reads such a listing through the namespace-wide `vis_order` instead (it assumes the
/// filter's rows are spread evenly through the order). When they are not — all the running
/// runs of one type, say — it reads a large part of the namespace for one page: 3.5 s at a
/// million runs. Told to leave `vis_order` for ordering, it reads the column's index in order.
fn has_ordered_index(f: &Filter) -> bool {
    let ordered = |field: &Field| {
        matches!(
            field,
            Field::System(
                Column::WorkflowId
                    | Column::WorkflowType
                    | Column::ExecutionStatus
                    | Column::TaskQueue
            )
        )
    };
    match f {
        Filter::And(parts) => parts.iter().any(has_ordered_index),
        Filter::Compare {
            field, op: Cmp::Eq, ..
        } => ordered(field),
        Filter::In {
            field,
            values,
            negated: false,
        } => values.len() == 1 && ordered(field),
        _ => false,
    }
}

/// For an atom on a custom attribute written through [`Where::attr_test`] (so
/// [`Where::correlated`] changes it): whether it is positive, i.e. holds exactly for runs with
/// some row of the attribute meeting a condition. `None` for other filters.
fn attr_atom(f: &Filter) -> Option<bool> {
    let (field, positive) = match f {
        Filter::Compare { field, .. } => (field, true),
        Filter::In { field, negated, .. }
        | Filter::Between { field, negated, .. }
        | Filter::StartsWith { field, negated, .. }
        | Filter::Contains { field, negated, .. } => (field, !negated),
        Filter::IsNull { field, negated } => (field, *negated),
        Filter::TextMatch { .. } | Filter::And(_) | Filter::Or(_) => return None,
    };
    matches!(field, Field::Attr { .. }).then_some(positive)
}

fn positive_attr_atom(f: &Filter) -> bool {
    attr_atom(f) == Some(true)
}

/// The positive attribute atoms of a filter, in the order [`match_bound`] consumes them.
fn positive_attr_atoms<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
    match f {
        Filter::And(parts) | Filter::Or(parts) => {
            parts.iter().for_each(|p| positive_attr_atoms(p, out))
        }
        atom if positive_attr_atom(atom) => out.push(atom),
        _ => {}
    }
}

/// An upper bound on the runs matching `f`, given its positive attribute atoms' row counts
/// (in [`positive_attr_atoms`] order); other atoms may match all `total` runs.
fn match_bound(f: &Filter, counts: &mut impl Iterator<Item = i64>, total: i64) -> i64 {
    match f {
        Filter::And(parts) => parts
            .iter()
            .map(|p| match_bound(p, counts, total))
            .fold(total, i64::min),
        Filter::Or(parts) => parts
            .iter()
            .map(|p| match_bound(p, counts, total))
            .fold(0i64, |a, b| a.saturating_add(b))
            .min(total),
        atom if positive_attr_atom(atom) => counts.next().unwrap_or(total),
        _ => total,
    }
}

/// Whether the filter tests custom attributes in a way [`Where::correlated`] changes.
fn has_attr_test(f: &Filter) -> bool {
    match f {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().any(has_attr_test),
        atom => attr_atom(atom).is_some(),
    }
}

/// The rows `visibility_attrs` keeps for one attribute: one per value, one per token for Text.
pub(crate) fn attr_rows(ty: ValueType, values: &[Value]) -> Vec<Arg> {
    let mut out = Vec::new();
    for v in values {
        match (ty, v) {
            (ValueType::Text, Value::Str(s)) => {
                out.extend(text_tokens(s).into_iter().map(Arg::Text));
            }
            // KeywordList elements match case-insensitively.
            (ValueType::KeywordList, Value::Str(s)) => out.push(Arg::Text(s.to_lowercase())),
            _ => out.push(v.into()),
        }
    }
    out
}

impl SqlStore {
    /// Whether so many runs may match `filter` that a page is found sooner by reading the
    /// namespace in listing order and probing each run's attributes than by collecting the
    /// matching runs and sorting them.
    ///
    /// SQLite, with no estimate of how many runs an attribute value has, always collects. At a
    /// million runs that costs seconds for a value a third of them have; probing in order then
    /// stops after a few hundred runs, while for a rare value it would read the whole
    /// namespace. Collecting m runs costs about m, probing about page × total / m, each probe
    /// about four times a collected run (measured: 9,000 of a million runs collect in 85 ms
    /// and probe in 430 ms); they meet near 2·√(page × total). Each positive attribute test's rows are counted up to that bound
    /// (an index range, so at most that much work); with AND taking the least and OR the sum,
    /// that bounds the matches from above.
    async fn matches_many(
        &self,
        namespace_id: &str,
        filter: &Filter,
        page_size: usize,
    ) -> Result<bool> {
        let total: i64 = self
            .status_counts(namespace_id)
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum();
        let bound = ((2.0 * (page_size as f64 * total as f64).sqrt()) as i64).max(self.probe_floor);
        if total <= bound {
            return Ok(false);
        }
        let mut atoms = Vec::new();
        positive_attr_atoms(filter, &mut atoms);
        let mut counts = Vec::with_capacity(atoms.len());
        for atom in atoms {
            let w = Where::atom_rows(namespace_id, self.backend(), atom);
            let text = self.adapt(&format!("SELECT COUNT(*) FROM ({} LIMIT ?) m", w.sql));
            let row = bind_args(sqlx::query(&text), &w.args)
                .bind(bound)
                .fetch_one(&mut *self.conn().await?)
                .await?;
            counts.push(int_column(&row, 0)?);
        }
        Ok(match_bound(filter, &mut counts.into_iter(), total) >= bound)
    }

    /// Runs per status in a namespace, from `visibility_counts`.
    async fn status_counts(&self, namespace_id: &str) -> Result<Vec<(i32, i64)>> {
        let text = self.adapt(
            "SELECT status, runs FROM visibility_counts WHERE namespace_id = ? AND runs <> 0 ORDER BY status",
        );
        let rows = sqlx::query(&text)
            .bind(namespace_id)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter()
            .map(|r| Ok((int_column(r, 0)? as i32, int_column(r, 1)?)))
            .collect()
    }
}

/// An integer column, whatever width the database reports it with.
pub(crate) fn int_column(row: &sqlx::any::AnyRow, i: usize) -> Result<i64> {
    Ok(row
        .try_get::<i64, _>(i)
        .or_else(|_| row.try_get::<i32, _>(i).map(i64::from))?)
}

#[async_trait]
impl VisibilityStore for SqlStore {
    async fn maintain(&self) -> Result<()> {
        self.optimize().await
    }

    async fn write_visibility(&self, writes: &[VisibilityWrite]) -> Result<()> {
        self.write_visibility_rows(writes).await
    }

    async fn list_visibility(
        &self,
        query: &VisibilityQuery<'_>,
        page_size: usize,
        token: &[u8],
    ) -> Result<VisibilityPage> {
        let mut w = Where::new(query.namespace_id, self.backend());
        if let Some(f) = &query.resolved.filter {
            w.correlated = self.backend() == Backend::Sqlite
                && has_attr_test(f)
                && self.matches_many(query.namespace_id, f, page_size).await?;
            w.and_filter(f);
        }
        if !token.is_empty() {
            w.and_after(&Cursor::decode(token)?);
        }
        let hint = match (self.backend(), &query.resolved.filter) {
            (Backend::Mysql, Some(f)) if has_ordered_index(f) => {
                " IGNORE INDEX FOR ORDER BY (vis_order)"
            }
            _ => "",
        };
        let text = self.adapt(&format!(
            "SELECT v.sort_time, v.start_time, v.run_id, v.data FROM visibility v{hint} WHERE {} ORDER BY v.sort_time DESC, v.start_time DESC, v.run_id ASC LIMIT ?",
            w.sql
        ));
        let rows = bind_args(sqlx::query(&text), &w.args)
            .bind(page_size as i64)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        let mut page = VisibilityPage::default();
        for r in &rows {
            page.executions.push(r.try_get(3)?);
        }
        if let Some(last) = rows.last()
            && rows.len() == page_size
        {
            page.next_page_token = Cursor {
                sort_time: last.try_get(0)?,
                start_time: last.try_get(1)?,
                run_id: decode_text(last, 2)?,
            }
            .encode();
        }
        Ok(page)
    }

    async fn count_visibility(
        &self,
        query: &VisibilityQuery<'_>,
    ) -> Result<Vec<(Option<i32>, i64)>> {
        let group_by = query.resolved.group_by;
        let filter = query.resolved.filter.as_ref();
        let namespace_id = query.namespace_id;
        if filter.is_none() {
            // The whole namespace: kept per status by the writer.
            let counts = self.status_counts(namespace_id).await?;
            return Ok(match group_by {
                None => vec![(None, counts.iter().map(|(_, n)| n).sum())],
                Some(_) => counts.into_iter().map(|(s, n)| (Some(s), n)).collect(),
            });
        }
        let mut w = Where::new(namespace_id, self.backend());
        if let Some(f) = filter {
            w.and_filter(f);
        }
        let text = match group_by {
            None => format!("SELECT COUNT(*) FROM visibility v WHERE {}", w.sql),
            Some(GroupBy::ExecutionStatus) => format!(
                "SELECT v.status, COUNT(*) FROM visibility v WHERE {} GROUP BY v.status ORDER BY v.status",
                w.sql
            ),
        };
        let text = self.adapt(&text);
        let rows = bind_args(sqlx::query(&text), &w.args)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter()
            .map(|r| match group_by {
                None => Ok((None, r.try_get::<i64, _>(0)?)),
                Some(_) => Ok((Some(int_column(r, 0)? as i32), int_column(r, 1)?)),
            })
            .collect()
    }
}
