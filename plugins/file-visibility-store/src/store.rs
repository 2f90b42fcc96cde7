//! The log, the in-memory index and query answering (plain Rust: unit-tested natively).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sundial_visquery::{Column, Record, Value, ValueType, compile, eval};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Val {
    S(String),
    I(i64),
    D(f64),
    B(bool),
    T(i64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attr {
    pub name: String,
    pub ty: String,
    pub values: Vec<Val>,
}

/// One record as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub namespace_id: String,
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: i32,
    pub start_time: i64,
    pub execution_time: i64,
    pub close_time: Option<i64>,
    pub history_length: Option<i64>,
    pub history_size_bytes: Option<i64>,
    pub execution_duration: Option<i64>,
    pub state_transition_count: Option<i64>,
    pub parent_workflow_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub root_workflow_id: String,
    pub root_run_id: String,
    pub attributes: Vec<Attr>,
    pub version: i64,
    /// The encoded `WorkflowExecutionInfo`, base64.
    pub info: String,
}

pub fn encode_info(info: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(info)
}

impl Stored {
    fn sort_key(&self) -> (i64, i64, &str) {
        (
            self.close_time.unwrap_or(i64::MAX),
            self.start_time,
            &self.run_id,
        )
    }
}

impl Record for Stored {
    fn column(&self, c: Column) -> Option<Value> {
        let s = |v: &str| Some(Value::Str(v.to_string()));
        match c {
            Column::WorkflowId => s(&self.workflow_id),
            Column::RunId => s(&self.run_id),
            Column::WorkflowType => s(&self.workflow_type),
            Column::TaskQueue => s(&self.task_queue),
            Column::ExecutionStatus => Some(Value::Int(self.status as i64)),
            Column::StartTime => Some(Value::Time(self.start_time)),
            Column::ExecutionTime => Some(Value::Time(self.execution_time)),
            Column::CloseTime => self.close_time.map(Value::Time),
            Column::HistoryLength => self.history_length.map(Value::Int),
            Column::HistorySizeBytes => self.history_size_bytes.map(Value::Int),
            Column::StateTransitionCount => self.state_transition_count.map(Value::Int),
            Column::ExecutionDuration => self.execution_duration.map(Value::Int),
            Column::ParentWorkflowId => self.parent_workflow_id.as_deref().and_then(s),
            Column::ParentRunId => self.parent_run_id.as_deref().and_then(s),
            Column::RootWorkflowId => s(&self.root_workflow_id),
            Column::RootRunId => s(&self.root_run_id),
        }
    }

    fn attr(&self, name: &str) -> Vec<Value> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| {
                a.values
                    .iter()
                    .map(|v| match v {
                        Val::S(s) => Value::Str(s.clone()),
                        Val::I(i) => Value::Int(*i),
                        Val::D(d) => Value::Double(*d),
                        Val::B(b) => Value::Bool(*b),
                        Val::T(t) => Value::Time(*t),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Line {
    Upsert(Box<Stored>),
    Delete {
        namespace_id: String,
        run_id: String,
    },
}

/// Appends lines to the log in one write.
pub fn append(path: &str, lines: &[Line]) -> Result<(), String> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("append to {path}: {e}"))
}

/// What a query needs besides the records.
pub struct QueryInput<'a> {
    pub namespace_id: &'a str,
    pub text: &'a str,
    /// Custom attributes: name, type name.
    pub custom: Vec<(&'a str, &'a str)>,
}

/// The records read so far, and where the log was read up to.
#[derive(Default)]
pub struct Index {
    offset: u64,
    records: HashMap<(String, String), Stored>,
}

impl Index {
    /// Reads whatever was appended since the last call.
    pub fn refresh(&mut self, path: &str) -> Result<(), String> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("open {path}: {e}")),
        };
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| format!("seek {path}: {e}"))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)
            .map_err(|e| format!("read {path}: {e}"))?;
        // Only whole lines: a line still being written is read next time.
        let Some(end) = tail.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        for raw in tail[..end].split(|b| *b == b'\n') {
            if raw.is_empty() {
                continue;
            }
            let line: Line = serde_json::from_slice(raw)
                .map_err(|e| format!("{path}: corrupt line at offset {}: {e}", self.offset))?;
            self.apply(line);
        }
        self.offset += end as u64 + 1;
        Ok(())
    }

    /// Applies one change: an upsert only replaces an older version.
    pub fn apply(&mut self, line: Line) {
        match line {
            Line::Upsert(r) => {
                let r = *r;
                let key = (r.namespace_id.clone(), r.run_id.clone());
                match self.records.get(&key) {
                    Some(old) if old.version >= r.version => {}
                    _ => {
                        self.records.insert(key, r);
                    }
                }
            }
            Line::Delete {
                namespace_id,
                run_id,
            } => {
                self.records.remove(&(namespace_id, run_id));
            }
        }
    }

    fn matching(
        &self,
        q: &QueryInput<'_>,
    ) -> Result<(Vec<&Stored>, sundial_visquery::Resolved), String> {
        let schema: HashMap<String, ValueType> = q
            .custom
            .iter()
            .filter_map(|(n, t)| Some((n.to_string(), ValueType::from_name(t)?)))
            .collect();
        let resolved = compile(q.text, &schema).map_err(|e| e.to_string())?;
        let found = self
            .records
            .values()
            .filter(|r| r.namespace_id == q.namespace_id)
            .filter(|r| {
                resolved
                    .filter
                    .as_ref()
                    .is_none_or(|f| eval(f, *r) == Some(true))
            })
            .collect();
        Ok((found, resolved))
    }

    /// One page in listing order; the token is the last row's sort key.
    pub fn list(
        &self,
        q: &QueryInput<'_>,
        page_size: usize,
        token: &[u8],
    ) -> Result<(Vec<Vec<u8>>, Vec<u8>), String> {
        let after = if token.is_empty() {
            None
        } else {
            let text = std::str::from_utf8(token).map_err(|_| "invalid page token")?;
            let mut parts = text.splitn(3, ':');
            let mut int = || parts.next().and_then(|p| p.parse::<i64>().ok());
            let (sort, start) = (int(), int());
            match (sort, start, parts.next()) {
                (Some(sort), Some(start), Some(run)) => Some((sort, start, run.to_string())),
                _ => return Err("invalid page token".into()),
            }
        };
        let (mut found, _) = self.matching(q)?;
        // Close time descending (running first), start time descending, run id ascending.
        found.sort_by(|a, b| {
            let (ka, kb) = (a.sort_key(), b.sort_key());
            kb.0.cmp(&ka.0).then(kb.1.cmp(&ka.1)).then(ka.2.cmp(kb.2))
        });
        let rest = found.into_iter().filter(|r| match &after {
            None => true,
            Some((sort, start, run)) => {
                let k = r.sort_key();
                k.0 < *sort
                    || (k.0 == *sort && (k.1 < *start || (k.1 == *start && k.2 > run.as_str())))
            }
        });
        let page: Vec<&Stored> = rest.take(page_size).collect();
        let mut executions = Vec::with_capacity(page.len());
        for r in &page {
            executions.push(
                base64::engine::general_purpose::STANDARD
                    .decode(&r.info)
                    .map_err(|e| format!("corrupt record {}: {e}", r.run_id))?,
            );
        }
        let token = match page.last() {
            Some(last) if page.len() == page_size => {
                let (sort, start, run) = last.sort_key();
                format!("{sort}:{start}:{run}").into_bytes()
            }
            _ => Vec::new(),
        };
        Ok((executions, token))
    }

    /// Matching records per status (ordered by status), or one total with status 0.
    pub fn count(
        &self,
        q: &QueryInput<'_>,
        group_by_status: bool,
    ) -> Result<Vec<(i32, i64)>, String> {
        let (found, _) = self.matching(q)?;
        if !group_by_status {
            return Ok(vec![(0, found.len() as i64)]);
        }
        let mut groups = std::collections::BTreeMap::new();
        for r in found {
            *groups.entry(r.status).or_insert(0i64) += 1;
        }
        Ok(groups.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(run: &str, status: i32, close: Option<i64>, tags: &[&str]) -> Stored {
        Stored {
            namespace_id: "ns".into(),
            run_id: run.into(),
            workflow_id: format!("wf-{run}"),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            status,
            start_time: 10,
            execution_time: 10,
            close_time: close,
            history_length: None,
            history_size_bytes: None,
            execution_duration: None,
            state_transition_count: None,
            parent_workflow_id: None,
            parent_run_id: None,
            root_workflow_id: String::new(),
            root_run_id: String::new(),
            attributes: vec![Attr {
                name: "Tags".into(),
                ty: "KeywordList".into(),
                values: tags.iter().map(|t| Val::S(t.to_string())).collect(),
            }],
            version: 1,
            info: encode_info(run.as_bytes()),
        }
    }

    #[test]
    fn log_round_trip_paging_and_versions() {
        let dir = std::env::temp_dir().join(format!("file-vis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("visibility.jsonl");
        let path = path.to_str().unwrap();
        let _ = std::fs::remove_file(path);
        let mut stale = rec("a", 2, Some(5), &["red"]);
        stale.version = 0;
        append(
            path,
            &[
                Line::Upsert(Box::new(rec("a", 1, None, &["red"]))),
                Line::Upsert(Box::new(rec("b", 2, Some(7), &["blue"]))),
                Line::Upsert(Box::new(rec("c", 3, Some(9), &[]))),
                Line::Upsert(Box::new(stale)),
                Line::Delete {
                    namespace_id: "ns".into(),
                    run_id: "c".into(),
                },
            ],
        )
        .unwrap();
        let mut idx = Index::default();
        idx.refresh(path).unwrap();
        let q = |text: &'static str| QueryInput {
            namespace_id: "ns",
            text,
            custom: vec![("Tags", "KeywordList")],
        };
        let (page, token) = idx.list(&q(""), 1, &[]).unwrap();
        assert_eq!(page, vec![b"a".to_vec()]);
        let (page, token) = idx.list(&q(""), 1, &token).unwrap();
        assert_eq!(page, vec![b"b".to_vec()]);
        let (page, token) = idx.list(&q(""), 1, &token).unwrap();
        assert!(page.is_empty() && token.is_empty());
        assert_eq!(idx.count(&q("Tags = 'RED'"), false).unwrap(), vec![(0, 1)]);
        assert_eq!(idx.count(&q(""), true).unwrap(), vec![(1, 1), (2, 1)]);
        // A half-written line waits; the rest is read on the next refresh.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap()
            .write_all(b"{\"Delete\":{\"namespace_id\":\"ns\",")
            .unwrap();
        idx.refresh(path).unwrap();
        assert_eq!(idx.count(&q(""), false).unwrap(), vec![(0, 2)]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap()
            .write_all(b"\"run_id\":\"a\"}}\n")
            .unwrap();
        idx.refresh(path).unwrap();
        assert_eq!(idx.count(&q(""), false).unwrap(), vec![(0, 1)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
