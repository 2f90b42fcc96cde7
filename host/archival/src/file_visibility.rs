//! The `file` archiver's visibility records: one JSON file per closed run, in
//! `<dir>/<namespace id>/<close time ns>_<run digest>.visibility`, queried with the same
//! language as `ListWorkflowExecutions` (Temporal's file store takes a small subset of it).
//! A query reads every record of the namespace: archived visibility is for audits, not a
//! hot path.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sundial_visquery::ValueType;
use sundial_visquery::archived::{ArchivedRun, types_by_name};

use crate::file::{FileArchiver, digest};
use crate::{
    Error, QueryVisibilityRequest, QueryVisibilityResponse, Result, Uri, VisibilityRecord,
};

/// Where a query page continues: after this (close time, run digest), newest first.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageToken {
    last_close_time: i64,
    last_run: String,
}

pub(crate) async fn archive(a: &FileArchiver, uri: &Uri, r: &VisibilityRecord) -> Result<()> {
    if r.namespace_id.is_empty() || r.workflow_id.is_empty() || r.run_id.is_empty() {
        return Err(Error::InvalidArgument(
            "a visibility record needs its namespace id, workflow id and run id".into(),
        ));
    }
    let dir = a.directory(uri).await?.join(&r.namespace_id);
    let path = dir.join(format!(
        "{}_{}.visibility",
        r.close_time,
        digest(&[&r.run_id])
    ));
    let data = serde_json::to_vec_pretty(r).expect("a record serializes");
    a.write_whole(&path, &data).await
}

pub(crate) async fn query(
    a: &FileArchiver,
    uri: &Uri,
    req: &QueryVisibilityRequest,
) -> Result<QueryVisibilityResponse> {
    if req.page_size == 0 {
        return Err(Error::InvalidArgument("page size must be positive".into()));
    }
    let types = types_by_name(&req.search_attribute_types);
    let resolved = sundial_visquery::compile(&req.query, &types)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let after = if req.next_page_token.is_empty() {
        None
    } else {
        let t: PageToken = serde_json::from_slice(&req.next_page_token)
            .map_err(|_| Error::InvalidArgument("next page token is corrupted".into()))?;
        Some((t.last_close_time, t.last_run))
    };
    let dir = a.directory(uri).await?.join(&req.namespace_id);
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(QueryVisibilityResponse::default());
        }
        Err(e) => return Err(Error::Retryable(format!("listing {}: {e}", dir.display()))),
    };
    let mut matched: Vec<(i64, String, VisibilityRecord)> = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| Error::Retryable(format!("listing {}: {e}", dir.display())))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((close, run)) = name
            .strip_suffix(".visibility")
            .and_then(|n| n.split_once('_'))
            .and_then(|(c, r)| Some((c.parse::<i64>().ok()?, r.to_string())))
        else {
            continue;
        };
        if after
            .as_ref()
            .is_some_and(|(ac, ar)| (close, run.as_str()) >= (*ac, ar.as_str()))
        {
            continue;
        }
        let data = match tokio::fs::read(entry.path()).await {
            Ok(d) => d,
            // Replaced while we listed: the new copy has the same name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::Retryable(format!("reading {name}: {e}"))),
        };
        let record: VisibilityRecord = serde_json::from_slice(&data)
            .map_err(|e| Error::NonRetryable(format!("{name} is not a visibility record: {e}")))?;
        let selected = match &resolved.filter {
            None => true,
            Some(f) => sundial_visquery::eval(f, &view(&record, &types)) == Some(true),
        };
        if selected {
            matched.push((close, run, record));
        }
    }
    matched.sort_by(|x, y| (y.0, &y.1).cmp(&(x.0, &x.1)));
    let mut out = QueryVisibilityResponse::default();
    let more = matched.len() > req.page_size as usize;
    matched.truncate(req.page_size as usize);
    if more && let Some((close, run, _)) = matched.last() {
        out.next_page_token = serde_json::to_vec(&PageToken {
            last_close_time: *close,
            last_run: run.clone(),
        })
        .expect("a token serializes");
    }
    out.records = matched.into_iter().map(|(_, _, r)| r).collect();
    Ok(out)
}

/// An archived record as the query evaluator sees it.
fn view<'a>(r: &'a VisibilityRecord, types: &'a HashMap<String, ValueType>) -> ArchivedRun<'a> {
    ArchivedRun {
        workflow_id: &r.workflow_id,
        run_id: &r.run_id,
        workflow_type: &r.workflow_type_name,
        status: r.status,
        start_time: r.start_time,
        execution_time: r.execution_time,
        close_time: r.close_time,
        history_length: r.history_length,
        execution_duration: r.execution_duration,
        search_attributes: &r.search_attributes,
        types,
    }
}
