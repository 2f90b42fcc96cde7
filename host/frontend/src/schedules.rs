//! WorkflowService's schedule calls, each handed to the schedules service as it came.

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use sundial_services::Schedules;

use super::{Res, ok, to_status};

pub(super) async fn create_schedule(
    s: &dyn Schedules,
    r: CreateScheduleRequest,
) -> Res<CreateScheduleResponse> {
    ok(s.create_schedule(r).await.map_err(to_status)?)
}

pub(super) async fn describe_schedule(
    s: &dyn Schedules,
    r: DescribeScheduleRequest,
) -> Res<DescribeScheduleResponse> {
    ok(s.describe_schedule(r).await.map_err(to_status)?)
}

pub(super) async fn update_schedule(
    s: &dyn Schedules,
    r: UpdateScheduleRequest,
) -> Res<UpdateScheduleResponse> {
    s.update_schedule(r).await.map_err(to_status)?;
    ok(UpdateScheduleResponse {})
}

pub(super) async fn patch_schedule(
    s: &dyn Schedules,
    r: PatchScheduleRequest,
) -> Res<PatchScheduleResponse> {
    s.patch_schedule(r).await.map_err(to_status)?;
    ok(PatchScheduleResponse {})
}

pub(super) async fn delete_schedule(
    s: &dyn Schedules,
    r: DeleteScheduleRequest,
) -> Res<DeleteScheduleResponse> {
    s.delete_schedule(r).await.map_err(to_status)?;
    ok(DeleteScheduleResponse {})
}

pub(super) async fn list_schedule_matching_times(
    s: &dyn Schedules,
    r: ListScheduleMatchingTimesRequest,
) -> Res<ListScheduleMatchingTimesResponse> {
    ok(s.list_schedule_matching_times(r).await.map_err(to_status)?)
}

pub(super) async fn list_schedules(
    s: &dyn Schedules,
    r: ListSchedulesRequest,
) -> Res<ListSchedulesResponse> {
    ok(s.list_schedules(r).await.map_err(to_status)?)
}

pub(super) async fn count_schedules(
    s: &dyn Schedules,
    r: CountSchedulesRequest,
) -> Res<CountSchedulesResponse> {
    ok(s.count_schedules(r).await.map_err(to_status)?)
}
