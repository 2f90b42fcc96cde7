//! ListSchedules and CountSchedules over the scheduler runs' visibility records, and what those
//! records carry: the listing summary in the memo, the schedule's own search attributes.

use prost::Message;
use sundial_visquery::{Field, Filter};
use temporalio_protos::temporal::api::{
    common::v1::{Payload, SearchAttributes},
    schedule::v1::{ScheduleListEntry, ScheduleListInfo, schedule_action},
    workflowservice::v1::{
        CountSchedulesRequest, CountSchedulesResponse, ListSchedulesRequest, ListSchedulesResponse,
        count_schedules_response::AggregationGroup,
    },
};

use super::{
    DIVISION, LIST_INFO_MEMO, NAMESPACE_DIVISION, SCHEDULE_PAUSED, ScheduleRecord,
    WORKFLOW_ID_PREFIX, at, nanos_of, seed,
};
use crate::error::{Result, invalid};
use crate::history::Engine;
use crate::namespace::Namespace;
use crate::time::ts;
use sundial_schedule::CompiledSpec;

const LISTED_ACTIONS: usize = 5;
const MAX_PAGE_SIZE: i32 = 1000;

/// The next `n` times the schedule will act (paused or not; no more than it has actions left).
pub(super) fn future_times(
    record: &ScheduleRecord,
    spec: &CompiledSpec,
    namespace_id: &str,
    now: i64,
    n: usize,
) -> Vec<prost_types::Timestamp> {
    let state = record
        .schedule
        .as_ref()
        .and_then(|s| s.state.clone())
        .unwrap_or_default();
    let n = match state.limited_actions {
        true => n.min(state.remaining_actions.max(0) as usize),
        false => n,
    };
    let seed = seed(namespace_id, &record.schedule_id);
    let mut after = at(now.max(record.processed_until));
    let mut times = Vec::new();
    while times.len() < n {
        let Some(next) = spec.next_time(&seed, after) else {
            break;
        };
        times.push(ts(nanos_of(next.actual)));
        after = next.nominal;
    }
    times
}

/// The summary ListSchedules shows, kept in the scheduler run's memo.
pub(super) fn info_memo(
    record: &ScheduleRecord,
    compiled: &CompiledSpec,
    namespace_id: &str,
    now: i64,
) -> Payload {
    let schedule = record.schedule.clone().unwrap_or_default();
    let state = schedule.state.clone().unwrap_or_default();
    let mut spec = schedule.spec.clone().unwrap_or_default();
    spec.timezone_data.clear();
    let future = future_times(record, compiled, namespace_id, now, LISTED_ACTIONS);
    let recent = record
        .info
        .as_ref()
        .map(|i| {
            let skip = i.recent_actions.len().saturating_sub(LISTED_ACTIONS);
            i.recent_actions[skip..].to_vec()
        })
        .unwrap_or_default();
    let workflow_type = match schedule.action.and_then(|a| a.action) {
        Some(schedule_action::Action::StartWorkflow(w)) => w.workflow_type,
        None => None,
    };
    let info = ScheduleListInfo {
        spec: Some(spec),
        workflow_type,
        notes: state.notes,
        paused: state.paused,
        recent_actions: recent,
        future_action_times: future,
        ..Default::default()
    };
    Payload {
        metadata: [
            ("encoding".to_string(), b"binary/protobuf".to_vec()),
            (
                "messageType".to_string(),
                b"temporal.api.schedule.v1.ScheduleListInfo".to_vec(),
            ),
        ]
        .into(),
        data: info.encode_to_vec(),
        ..Default::default()
    }
}

/// The schedule's own search attributes: the ones the server keeps on the run are left out.
pub(super) fn custom_attributes(sa: Option<&SearchAttributes>) -> SearchAttributes {
    let mut sa = sa.cloned().unwrap_or_default();
    sa.indexed_fields
        .retain(|name, _| sundial_visquery::predefined_type(name).is_none());
    sa
}

/// Refuses a filter on a name ListSchedules does not offer (system attributes other than
/// `TemporalSchedulePaused`).
fn check_fields(f: &Filter, workflow_id_allowed: bool) -> Result<()> {
    let field = match f {
        Filter::And(parts) | Filter::Or(parts) => {
            return parts
                .iter()
                .try_for_each(|p| check_fields(p, workflow_id_allowed));
        }
        Filter::Compare { field, .. }
        | Filter::In { field, .. }
        | Filter::Between { field, .. }
        | Filter::StartsWith { field, .. }
        | Filter::IsNull { field, .. }
        | Filter::TextMatch { field, .. }
        | Filter::Contains { field, .. } => field,
    };
    let custom = matches!(field, Field::Attr { name, .. } if sundial_visquery::predefined_type(name).is_none());
    if custom
        || field.name() == SCHEDULE_PAUSED
        || (workflow_id_allowed && field.name() == "WorkflowId")
    {
        return Ok(());
    }
    Err(invalid(format!(
        "invalid query filter for schedules: cannot filter on \"{}\"",
        field.name()
    )))
}

impl Engine {
    /// The visibility query for a namespace's schedules and the user's filter.
    fn schedules_query(&self, ns: &Namespace, query: &str) -> Result<String> {
        let base = format!("{NAMESPACE_DIVISION} = '{DIVISION}' AND ExecutionStatus = 'Running'");
        if query.trim().is_empty() {
            return Ok(base);
        }
        // `ScheduleId` is the scheduler run's workflow id, as Temporal rewrites it.
        let workflow_id_allowed = !query.to_ascii_lowercase().contains("workflowid");
        let query = sundial_visquery::rename_field(query, "ScheduleId", "WorkflowId", |id| {
            format!("{WORKFLOW_ID_PREFIX}{id}")
        });
        let resolved = sundial_visquery::compile(&query, ns).map_err(|e| invalid(e.to_string()))?;
        if let Some(filter) = &resolved.filter {
            check_fields(filter, workflow_id_allowed)?;
        }
        Ok(format!("{base} AND ({query})"))
    }

    pub async fn list_schedules(
        &self,
        ns: &Namespace,
        req: ListSchedulesRequest,
    ) -> Result<ListSchedulesResponse> {
        let query = self.schedules_query(ns, &req.query)?;
        let size = match req.maximum_page_size {
            s if s <= 0 || s > MAX_PAGE_SIZE => MAX_PAGE_SIZE,
            s => s,
        };
        let page = self
            .list_workflows(ns, &query, size, &req.next_page_token)
            .await?;
        let schedules = page
            .executions
            .into_iter()
            .map(|e| {
                let workflow_id = e.execution.map(|x| x.workflow_id).unwrap_or_default();
                let mut memo = e.memo.unwrap_or_default();
                let info = memo
                    .fields
                    .remove(LIST_INFO_MEMO)
                    .and_then(|p| ScheduleListInfo::decode(p.data.as_slice()).ok());
                ScheduleListEntry {
                    schedule_id: workflow_id
                        .strip_prefix(WORKFLOW_ID_PREFIX)
                        .unwrap_or(&workflow_id)
                        .to_string(),
                    memo: Some(memo),
                    search_attributes: Some(custom_attributes(e.search_attributes.as_ref())),
                    info,
                }
            })
            .collect();
        Ok(ListSchedulesResponse {
            schedules,
            next_page_token: page.next_page_token,
        })
    }

    pub async fn count_schedules(
        &self,
        ns: &Namespace,
        req: CountSchedulesRequest,
    ) -> Result<CountSchedulesResponse> {
        let query = self.schedules_query(ns, &req.query)?;
        let counted = self.count_workflows(ns, &query).await?;
        Ok(CountSchedulesResponse {
            count: counted.count,
            groups: counted
                .groups
                .into_iter()
                .map(|g| AggregationGroup {
                    group_values: g.group_values,
                    count: g.count,
                })
                .collect(),
        })
    }
}
