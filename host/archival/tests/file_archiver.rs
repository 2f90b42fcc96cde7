//! The built-in `file` archiver on a real directory.

use std::collections::HashMap;
use std::sync::Arc;

use sundial_api::protos::temporal::api::{
    common::v1::{Memo, Payload},
    history::v1::{History, HistoryEvent},
};
use sundial_archival::*;

/// A closed run's history, served in pages of two batches.
struct Run {
    batches: Vec<History>,
    gone: bool,
}

fn run(events: i64, per_batch: i64) -> Run {
    let ids: Vec<i64> = (1..=events).collect();
    Run {
        batches: ids
            .chunks(per_batch as usize)
            .map(|c| History {
                events: c
                    .iter()
                    .map(|id| HistoryEvent {
                        event_id: *id,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
        gone: false,
    }
}

#[async_trait::async_trait]
impl HistorySource for Run {
    async fn read_history(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: u32,
        token: &[u8],
    ) -> Result<HistoryPage> {
        if self.gone {
            return Err(Error::NotFound("no such run".into()));
        }
        let from: usize = if token.is_empty() {
            0
        } else {
            String::from_utf8_lossy(token).parse().unwrap()
        };
        let to = (from + 2).min(self.batches.len());
        Ok(HistoryPage {
            batches: self.batches[from..to].to_vec(),
            next_page_token: if to < self.batches.len() {
                to.to_string().into_bytes()
            } else {
                Vec::new()
            },
        })
    }
}

fn request(next_event_id: i64, version: i64) -> ArchiveHistoryRequest {
    ArchiveHistoryRequest {
        namespace_id: "ns-id".into(),
        namespace: "audit".into(),
        workflow_id: "order/1".into(),
        run_id: "run-1".into(),
        next_event_id,
        close_failover_version: version,
        ..Default::default()
    }
}

fn get(page_size: u32, token: Vec<u8>) -> GetHistoryRequest {
    GetHistoryRequest {
        namespace_id: "ns-id".into(),
        workflow_id: "order/1".into(),
        run_id: "run-1".into(),
        close_failover_version: None,
        page_size,
        next_page_token: token,
    }
}

fn uri(dir: &std::path::Path) -> Uri {
    Uri::parse(&format!("file://{}", dir.display())).unwrap()
}

#[tokio::test]
async fn a_history_is_archived_once_as_json_and_read_back_in_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let u = uri(&tmp.path().join("h"));
    let a = Arc::new(FileArchiver::default());
    let source = Arc::new(run(10, 3));
    // Archived twice at once, then again: one whole copy.
    let r = request(11, 0);
    let (x, y) = tokio::join!(
        a.archive_history(&u, &r, source.clone()),
        a.archive_history(&u, &r, source.clone()),
    );
    x.unwrap();
    y.unwrap();
    a.archive_history(&u, &request(11, 0), source.clone())
        .await
        .unwrap();
    let files: Vec<_> = std::fs::read_dir(tmp.path().join("h"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("_0.history"));
    // A person can read it: proto3 JSON, event ids as strings.
    let text = std::fs::read_to_string(tmp.path().join("h").join(&files[0])).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc[0]["events"][0]["eventId"], "1");
    assert_eq!(doc.as_array().unwrap().len(), 4);

    // Pages of whole batches, at least the page size each.
    let mut token = Vec::new();
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = a.get_history(&u, &get(4, token)).await.unwrap();
        pages += 1;
        ids.extend(
            page.batches
                .iter()
                .flat_map(|b| b.events.iter().map(|e| e.event_id)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn the_highest_version_is_read_unless_one_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let u = uri(tmp.path());
    let a = FileArchiver::default();
    a.archive_history(&u, &request(3, 2), Arc::new(run(2, 1)))
        .await
        .unwrap();
    a.archive_history(&u, &request(6, 7), Arc::new(run(5, 5)))
        .await
        .unwrap();
    let page = a.get_history(&u, &get(100, Vec::new())).await.unwrap();
    assert_eq!(page.batches[0].events.len(), 5);
    let mut old = get(100, Vec::new());
    old.close_failover_version = Some(2);
    let page = a.get_history(&u, &old).await.unwrap();
    assert_eq!(page.batches.len(), 2);
}

#[tokio::test]
async fn refusals_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let u = uri(tmp.path());
    let a = FileArchiver::default();
    // The close said 12 events; the store holds 10.
    let e = a
        .archive_history(&u, &request(13, 0), Arc::new(run(10, 3)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::NonRetryable(ref m) if m.contains("mutated")),
        "{e:?}"
    );
    // A run deleted already: nothing to do.
    let gone = Run {
        batches: Vec::new(),
        gone: true,
    };
    a.archive_history(&u, &request(11, 0), Arc::new(gone))
        .await
        .unwrap();
    assert!(matches!(
        a.get_history(&u, &get(10, Vec::new())).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        a.get_history(&u, &get(10, b"junk".to_vec())).await,
        Err(Error::InvalidArgument(_))
    ));
    let file = tmp.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    for bad in [
        "s3://bucket/x".to_string(),
        "file://elsewhere/tmp/x".to_string(),
        format!("file://{}", file.display()),
    ] {
        let r = a.validate_history_uri(&Uri::parse(&bad).unwrap()).await;
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{bad}: {r:?}");
    }
    assert!(Uri::parse("not a uri").is_err());
    a.validate_visibility_uri(&uri(&tmp.path().join("new")))
        .await
        .unwrap();
}

fn record(run: &str, wf_type: &str, close: i64, status: i32) -> VisibilityRecord {
    VisibilityRecord {
        namespace_id: "ns-id".into(),
        namespace: "audit".into(),
        workflow_id: format!("wf-{run}"),
        run_id: run.into(),
        workflow_type_name: wf_type.into(),
        start_time: close - 1_000,
        close_time: close,
        status,
        history_length: 11,
        memo: Some(Memo {
            fields: HashMap::from([(
                "note".to_string(),
                Payload {
                    data: b"\"kept\"".to_vec(),
                    ..Default::default()
                },
            )]),
        }),
        search_attributes: HashMap::from([
            ("CustomerId".to_string(), "\"c-7\"".to_string()),
            ("Amount".to_string(), "42".to_string()),
        ]),
        ..Default::default()
    }
}

#[tokio::test]
async fn visibility_records_are_queried_with_lists_language_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let u = uri(tmp.path());
    let a = FileArchiver::default();
    for (i, (run, ty, status)) in [
        ("r1", "Order", 2),
        ("r2", "Refund", 2),
        ("r3", "Order", 3),
        ("r4", "Order", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let r = record(run, ty, 1_700_000_000_000_000_000 + i as i64, status);
        a.archive_visibility(&u, &r).await.unwrap();
        a.archive_visibility(&u, &r).await.unwrap();
    }
    let types = HashMap::from([
        ("CustomerId".to_string(), "Keyword".to_string()),
        ("Amount".to_string(), "Int".to_string()),
    ]);
    let query = |q: &str, size: u32, token: Vec<u8>| QueryVisibilityRequest {
        namespace_id: "ns-id".into(),
        page_size: size,
        next_page_token: token,
        query: q.into(),
        search_attribute_types: types.clone(),
    };
    let runs = |r: &QueryVisibilityResponse| -> Vec<String> {
        r.records.iter().map(|e| e.run_id.clone()).collect()
    };
    let got = a
        .query_visibility(&u, &query("WorkflowType = 'Order'", 10, Vec::new()))
        .await
        .unwrap();
    assert_eq!(runs(&got), ["r4", "r3", "r1"]);
    assert!(got.next_page_token.is_empty());
    let info = &got.records[0].execution_info(&types);
    assert_eq!(info.memo.as_ref().unwrap().fields["note"].data, b"\"kept\"");
    assert_eq!(
        info.search_attributes.as_ref().unwrap().indexed_fields["Amount"].data,
        b"42"
    );
    assert_eq!(info.history_length, 11);
    let got = a
        .query_visibility(
            &u,
            &query(
                "WorkflowType = 'Order' AND ExecutionStatus = 'Completed' AND Amount > 40",
                1,
                Vec::new(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(runs(&got), ["r4"]);
    let next = a
        .query_visibility(
            &u,
            &query(
                "WorkflowType = 'Order' AND ExecutionStatus = 'Completed' AND Amount > 40",
                1,
                got.next_page_token.clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(runs(&next), ["r1"]);
    let all = a
        .query_visibility(&u, &query("", 10, Vec::new()))
        .await
        .unwrap();
    assert_eq!(all.records.len(), 4);
    let e = a
        .query_visibility(&u, &query("Nope = 1", 10, Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(ref m) if m.contains("Nope")),
        "{e:?}"
    );
    let mut other = query("", 10, Vec::new());
    other.namespace_id = "other".into();
    assert!(
        a.query_visibility(&u, &other)
            .await
            .unwrap()
            .records
            .is_empty()
    );
}
