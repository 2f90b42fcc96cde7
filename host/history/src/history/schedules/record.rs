//! What a scheduler run keeps in its mutable state: the schedule as last set, its info and
//! counters, the starts waiting for their turn, and the results passed to the next run.

use temporalio_protos::temporal::api::{
    common::v1::{Payloads, SearchAttributes},
    failure::v1::Failure,
    history::v1::WorkflowExecutionStartedEventAttributes,
    schedule::v1::{Schedule, ScheduleInfo},
};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScheduleRecord {
    #[prost(string, tag = "1")]
    pub schedule_id: String,
    /// The schedule with its spec in canonical form and its policies resolved.
    #[prost(message, optional, tag = "2")]
    pub schedule: Option<Schedule>,
    /// Counters, recent actions, running workflows, create and update times.
    #[prost(message, optional, tag = "3")]
    pub info: Option<ScheduleInfo>,
    #[prost(int64, tag = "4")]
    pub conflict_token: i64,
    /// Nominal times up to this one (unix nanos) were taken or dropped.
    #[prost(int64, tag = "5")]
    pub processed_until: i64,
    /// Starts due but waiting (overlap policies) or not yet made.
    #[prost(message, repeated, tag = "6")]
    pub buffer: Vec<PendingStart>,
    #[prost(message, optional, tag = "7")]
    pub last_completion_result: Option<Payloads>,
    #[prost(message, optional, tag = "8")]
    pub continued_failure: Option<Failure>,
    /// The request id of the create call (a retried create succeeds again).
    #[prost(string, tag = "9")]
    pub create_request_id: String,
    /// The running workflow a CANCEL_OTHER or TERMINATE_OTHER start already asked to stop.
    #[prost(string, tag = "10")]
    pub stopping_run_id: String,
    /// When a wake task is set for (unix nanos; 0: none): a step sets another only when the
    /// time it needs differs.
    #[prost(int64, tag = "11")]
    pub next_wake: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PendingStart {
    /// The time the spec matched (unix nanos): it names the workflow id.
    #[prost(int64, tag = "1")]
    pub nominal: i64,
    /// With jitter (unix nanos): the action's schedule time.
    #[prost(int64, tag = "2")]
    pub actual: i64,
    /// `ScheduleOverlapPolicy`, resolved.
    #[prost(int32, tag = "3")]
    pub overlap_policy: i32,
    /// A trigger or backfill: runs even if paused or out of actions, and may reuse an id.
    #[prost(bool, tag = "4")]
    pub manual: bool,
}

/// A run a schedule started closed; the scheduler hears it on its own shard.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScheduledRunClosed {
    #[prost(string, tag = "1")]
    pub workflow_id: String,
    /// The first run of the closed chain, as the schedule recorded it.
    #[prost(string, tag = "2")]
    pub first_run_id: String,
    /// `WorkflowExecutionStatus`.
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(message, optional, tag = "4")]
    pub result: Option<Payloads>,
    #[prost(message, optional, tag = "5")]
    pub failure: Option<Failure>,
}

/// What a schedule gives the runs it starts beyond the action's request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StartCarry {
    #[prost(message, optional, tag = "1")]
    pub last_completion_result: Option<Payloads>,
    #[prost(message, optional, tag = "2")]
    pub continued_failure: Option<Failure>,
    /// `TemporalScheduledStartTime` and `TemporalScheduledById`.
    #[prost(message, optional, tag = "3")]
    pub search_attributes: Option<SearchAttributes>,
}

impl StartCarry {
    pub(crate) fn apply(
        &self,
        mut attrs: WorkflowExecutionStartedEventAttributes,
    ) -> WorkflowExecutionStartedEventAttributes {
        attrs.last_completion_result = self.last_completion_result.clone();
        attrs.continued_failure = self.continued_failure.clone();
        if let Some(extra) = &self.search_attributes {
            let sa = attrs.search_attributes.get_or_insert_with(Default::default);
            for (k, v) in &extra.indexed_fields {
                sa.indexed_fields.insert(k.clone(), v.clone());
            }
        }
        attrs
    }
}
