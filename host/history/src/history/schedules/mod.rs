//! Schedules, native in the engine. Like Temporal, each schedule lives in a system run of its
//! namespace, `temporal-sys-scheduler:<schedule id>`, whose mutable state keeps the schedule
//! ([`ScheduleRecord`]) and whose visibility record (division `TemporalScheduler`, hidden from
//! workflow listings) is what ListSchedules reads. Unlike Temporal the run has no workflow
//! tasks: its wake-up timer ([`TaskKind::ScheduleWake`]) and the close notices of the runs it
//! started drive [`Engine::run_scheduler`] (`step.rs`).

mod calls;
mod list;
mod record;
mod step;
mod update;

use chrono::{DateTime, SecondsFormat, Utc};
use sundial_schedule::CompiledSpec;
use sundial_store::RunKey;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{
        ScheduleOverlapPolicy, TaskQueueKind, WorkflowExecutionStatus, WorkflowIdReusePolicy,
    },
    schedule::v1::{Schedule, ScheduleInfo, SchedulePolicies, schedule_action},
    workflowservice::v1::{
        CreateScheduleRequest, CreateScheduleResponse, DescribeScheduleRequest,
        DescribeScheduleResponse, ListScheduleMatchingTimesRequest,
        ListScheduleMatchingTimesResponse,
    },
};

pub(crate) use calls::scheduled_by as scheduled_by_id;
pub use record::{PendingStart, ScheduleRecord, ScheduledRunClosed, StartCarry};

use super::Engine;
use super::system_runs::{SystemRun, SystemState};
pub(crate) use super::visibility::typed_payload;
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;
use crate::time::{dur, dur_nanos, now_nanos, ts};

pub(crate) const WORKFLOW_ID_PREFIX: &str = "temporal-sys-scheduler:";
const WORKFLOW_TYPE: &str = "temporal-sys-scheduler-workflow";
const TASK_QUEUE: &str = "temporal-sys-scheduler-tq";
pub(crate) const NAMESPACE_DIVISION: &str = "TemporalNamespaceDivision";
pub(crate) const DIVISION: &str = "TemporalScheduler";
pub(crate) const SCHEDULE_PAUSED: &str = "TemporalSchedulePaused";
pub(crate) const SCHEDULED_BY_ID: &str = "TemporalScheduledById";
pub(crate) const SCHEDULED_START_TIME: &str = "TemporalScheduledStartTime";
/// The memo key of the listing's summary (`ScheduleListInfo`), hidden from Describe.
pub(crate) const LIST_INFO_MEMO: &str = "ScheduleInfo";

const SECOND: i64 = 1_000_000_000;
const DEFAULT_CATCHUP_WINDOW: i64 = 365 * 24 * 3600 * SECOND;
const MIN_CATCHUP_WINDOW: i64 = 10 * SECOND;
/// The longest suffix a started run's id gets (`-2009-11-10T23:00:00Z`).
const ID_SUFFIX_LEN: usize = "-2009-11-10T23:00:00Z".len();
const MAX_NOTE_LEN: usize = 1000;

/// The id of a schedule's scheduler run.
pub fn workflow_id(schedule_id: &str) -> String {
    format!("{WORKFLOW_ID_PREFIX}{schedule_id}")
}

/// The seed of a schedule's jitter, as Temporal forms it.
fn seed(namespace_id: &str, schedule_id: &str) -> String {
    format!("{namespace_id}-{schedule_id}")
}

fn at(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn nanos_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn rfc3339_seconds(nanos: i64) -> String {
    at(nanos).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Compiles the stored (canonical) spec.
fn compiled(schedule: &Schedule) -> Result<CompiledSpec> {
    CompiledSpec::new(&schedule.spec.clone().unwrap_or_default())
        .map_err(|e| invalid(format!("Invalid schedule spec: {e}")))
}

/// The policies with their defaults filled in, as Describe shows them.
fn resolve_policies(p: Option<SchedulePolicies>) -> SchedulePolicies {
    let mut p = p.unwrap_or_default();
    if p.overlap_policy == ScheduleOverlapPolicy::Unspecified as i32 {
        p.overlap_policy = ScheduleOverlapPolicy::Skip as i32;
    }
    let window = dur_nanos(&p.catchup_window);
    p.catchup_window = Some(dur(match p.catchup_window {
        None => DEFAULT_CATCHUP_WINDOW,
        Some(_) => window.max(MIN_CATCHUP_WINDOW),
    }));
    p
}

impl Engine {
    /// Checks a schedule as a client sent it and puts it in the form it is kept in: the spec
    /// canonical, the policies resolved.
    fn prepare_schedule(&self, ns: &Namespace, schedule: &mut Schedule) -> Result<CompiledSpec> {
        let spec = CompiledSpec::new(&schedule.spec.clone().unwrap_or_default())
            .map_err(|e| invalid(format!("Invalid schedule spec: {e}")))?;
        schedule.spec = Some(spec.canonical().clone());
        let Some(schedule_action::Action::StartWorkflow(start)) =
            schedule.action.as_mut().and_then(|a| a.action.as_mut())
        else {
            return Err(invalid("Schedule action is not set."));
        };
        super::start::check_id(self, &start.workflow_id, "WorkflowId")?;
        if start.workflow_id.len() + ID_SUFFIX_LEN > self.max_id_length() {
            return Err(invalid(format!(
                "WorkflowId exceeds length limit of {} (with the time the schedule adds).",
                self.max_id_length()
            )));
        }
        let wf_type = start.workflow_type.as_ref().map_or("", |t| t.name.as_str());
        super::start::check_id(self, wf_type, "WorkflowType")?;
        let queue = start.task_queue.get_or_insert_with(Default::default);
        super::start::check_id(self, &queue.name, "TaskQueue")?;
        queue.kind = TaskQueueKind::Normal as i32;
        if !start.cron_schedule.is_empty() {
            return Err(invalid(
                "CronSchedule is not allowed in a schedule's action.",
            ));
        }
        if ![
            WorkflowIdReusePolicy::Unspecified as i32,
            WorkflowIdReusePolicy::AllowDuplicate as i32,
        ]
        .contains(&start.workflow_id_reuse_policy)
        {
            return Err(invalid(
                "WorkflowIdReusePolicy may only be unspecified or AllowDuplicate in a schedule's action.",
            ));
        }
        super::start::validate_retry_policy(&start.retry_policy)?;
        if let Some(sa) = start.search_attributes.as_mut() {
            super::validate_search_attributes(ns, sa)?;
        }
        schedule.policies = Some(resolve_policies(schedule.policies.take()));
        Ok(spec)
    }

    pub async fn create_schedule(
        &self,
        ns: &Namespace,
        req: CreateScheduleRequest,
    ) -> Result<CreateScheduleResponse> {
        super::start::check_id(self, &req.schedule_id, "ScheduleId")?;
        if req.request_id.is_empty() {
            return Err(invalid("RequestId is not set on request."));
        }
        let mut schedule = req.schedule.unwrap_or_default();
        let spec = self.prepare_schedule(ns, &mut schedule)?;
        let mut search_attributes = req.search_attributes.unwrap_or_default();
        super::validate_search_attributes(ns, &mut search_attributes)?;
        let now = now_nanos();
        let paused = schedule.state.as_ref().is_some_and(|s| s.paused);
        let mut record = ScheduleRecord {
            schedule_id: req.schedule_id.clone(),
            schedule: Some(schedule),
            info: Some(ScheduleInfo {
                create_time: Some(ts(now)),
                ..Default::default()
            }),
            conflict_token: 1,
            processed_until: now,
            create_request_id: req.request_id.clone(),
            ..Default::default()
        };
        if let Some(patch) = &req.initial_patch {
            update::apply_patch(
                &mut record,
                patch,
                &spec,
                &seed(&ns.id, &req.schedule_id),
                now,
            )?;
        }
        let indexed = &mut search_attributes.indexed_fields;
        indexed.insert(
            NAMESPACE_DIVISION.into(),
            typed_payload("Keyword", DIVISION.into()),
        );
        indexed.insert(SCHEDULE_PAUSED.into(), typed_payload("Bool", paused.into()));
        let mut memo = req.memo.unwrap_or_default();
        memo.fields.insert(
            LIST_INFO_MEMO.into(),
            list::info_memo(&record, &spec, &ns.id, now),
        );
        let workflow_id = workflow_id(&req.schedule_id);
        let schedule_id = req.schedule_id.clone();
        let request_id = req.request_id.clone();
        let run = SystemRun {
            workflow_type: WORKFLOW_TYPE,
            task_queue: TASK_QUEUE,
            identity: req.identity.clone(),
            memo,
            search_attributes,
            request_id: request_id.clone(),
            state: SystemState::Schedule(Box::new(record)),
        };
        // A running schedule of this id: the same create again succeeds, another is refused;
        // a deleted one is replaced.
        let existing = |ms: &crate::state::MutableState, key: RunKey| {
            (ms.status == WorkflowExecutionStatus::Running as i32).then(|| {
                if ms.start_request_id == request_id {
                    Ok(key)
                } else {
                    Err(Error::WorkflowAlreadyStarted {
                        message: format!("schedule {schedule_id:?} is already registered"),
                        start_request_id: ms.start_request_id.clone(),
                        run_id: ms.run_id.clone(),
                        first_execution_run_id: ms.first_execution_run_id().to_string(),
                    })
                }
            })
        };
        let key = self
            .create_system_run(ns, &workflow_id, run, &existing)
            .await?;
        // The initial patch's trigger shows in the first Describe: take it now.
        if let Err(e) = self.run_scheduler(&key, None).await {
            tracing::warn!(schedule_id = %req.schedule_id, error = %e, "first scheduler step failed; its wake task retries it");
        }
        Ok(CreateScheduleResponse {
            conflict_token: 1i64.to_be_bytes().to_vec(),
        })
    }

    /// The running scheduler run of a schedule and its record; `NotFound` as Temporal words it.
    pub(crate) async fn schedule_of(
        &self,
        ns: &Namespace,
        schedule_id: &str,
    ) -> Result<(RunKey, crate::state::MutableState)> {
        if schedule_id.is_empty() {
            return Err(invalid("ScheduleId is not set on request."));
        }
        let exec = WorkflowExecution {
            workflow_id: workflow_id(schedule_id),
            run_id: String::new(),
        };
        let key = self.resolve(&ns.id, &exec).await?;
        let ms = self.snapshot(&key).await?;
        if ms.status != WorkflowExecutionStatus::Running as i32 || ms.schedule.is_none() {
            return Err(Error::NotFound("schedule not found".into()));
        }
        Ok((key, ms))
    }

    pub async fn describe_schedule(
        &self,
        ns: &Namespace,
        req: DescribeScheduleRequest,
    ) -> Result<DescribeScheduleResponse> {
        let (_, ms) = self.schedule_of(ns, &req.schedule_id).await?;
        let record = ms.schedule.clone().expect("checked");
        let schedule = record.schedule.clone().unwrap_or_default();
        let spec = compiled(&schedule)?;
        let mut info = record.info.clone().unwrap_or_default();
        info.buffer_size = record.buffer.len() as i64;
        info.future_action_times = list::future_times(&record, &spec, &ns.id, now_nanos(), 10);
        let mut memo = ms.memo.clone().unwrap_or_default();
        memo.fields.remove(LIST_INFO_MEMO);
        Ok(DescribeScheduleResponse {
            schedule: Some(schedule),
            info: Some(info),
            memo: Some(memo),
            search_attributes: Some(list::custom_attributes(ms.search_attributes.as_ref())),
            conflict_token: record.conflict_token.to_be_bytes().to_vec(),
        })
    }

    pub async fn list_schedule_matching_times(
        &self,
        ns: &Namespace,
        req: ListScheduleMatchingTimesRequest,
    ) -> Result<ListScheduleMatchingTimesResponse> {
        let (Some(start), Some(end)) = (&req.start_time, &req.end_time) else {
            return Err(invalid("StartTime and EndTime are required."));
        };
        let (_, ms) = self.schedule_of(ns, &req.schedule_id).await?;
        let spec = compiled(
            ms.schedule
                .as_ref()
                .and_then(|r| r.schedule.as_ref())
                .expect("checked"),
        )?;
        let times = spec.times_between(
            &seed(&ns.id, &req.schedule_id),
            sundial_schedule::time_of(start),
            sundial_schedule::time_of(end),
            1000,
        );
        Ok(ListScheduleMatchingTimesResponse {
            start_time: times.into_iter().map(|t| ts(nanos_of(t))).collect(),
        })
    }
}
