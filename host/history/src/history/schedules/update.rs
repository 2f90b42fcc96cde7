//! Changing a schedule: UpdateSchedule (a new schedule, its search attributes), PatchSchedule
//! (trigger, backfill, pause, unpause) and DeleteSchedule.

use sundial_schedule::CompiledSpec;
use temporalio_protos::temporal::api::{
    schedule::v1::SchedulePatch,
    workflowservice::v1::{DeleteScheduleRequest, PatchScheduleRequest, UpdateScheduleRequest},
};

use super::{
    MAX_NOTE_LEN, NAMESPACE_DIVISION, PendingStart, SCHEDULE_PAUSED, ScheduleRecord, nanos_of, seed,
};
use crate::error::{Error, Result, invalid};
use crate::history::Engine;
use crate::namespace::Namespace;
use crate::time::{now_nanos, ts};

/// The most starts a schedule keeps waiting; more are dropped (and counted).
pub(super) const MAX_BUFFER: usize = 1000;

/// Queues a start, or counts it dropped when the buffer is full.
pub(super) fn buffer_start(record: &mut ScheduleRecord, start: PendingStart) {
    if record.buffer.len() >= MAX_BUFFER {
        record
            .info
            .get_or_insert_with(Default::default)
            .buffer_dropped += 1;
    } else {
        record.buffer.push(start);
    }
}

/// Applies a patch: a trigger and backfills become manual starts; pause and unpause set the
/// flag and the notes.
pub(super) fn apply_patch(
    record: &mut ScheduleRecord,
    patch: &SchedulePatch,
    spec: &CompiledSpec,
    seed: &str,
    now: i64,
) -> Result<()> {
    if patch.pause.len() > MAX_NOTE_LEN || patch.unpause.len() > MAX_NOTE_LEN {
        return Err(invalid(
            "Pause and unpause notes must be at most 1000 bytes.",
        ));
    }
    if let Some(trigger) = &patch.trigger_immediately {
        let time = trigger
            .scheduled_time
            .as_ref()
            .map_or(now, |t| t.seconds * 1_000_000_000 + t.nanos as i64);
        buffer_start(
            record,
            PendingStart {
                nominal: time,
                actual: time,
                overlap_policy: trigger.overlap_policy,
                manual: true,
            },
        );
    }
    for backfill in &patch.backfill_request {
        let (Some(start), Some(end)) = (&backfill.start_time, &backfill.end_time) else {
            return Err(invalid("A backfill needs a start and an end time."));
        };
        let (start, end) = (
            sundial_schedule::time_of(start),
            sundial_schedule::time_of(end),
        );
        let mut after = start - chrono::TimeDelta::nanoseconds(1);
        while let Some(next) = spec.next_time(seed, after) {
            if next.nominal > end {
                break;
            }
            buffer_start(
                record,
                PendingStart {
                    nominal: nanos_of(next.nominal),
                    actual: nanos_of(next.actual),
                    overlap_policy: backfill.overlap_policy,
                    manual: true,
                },
            );
            after = next.nominal;
        }
    }
    let state = record
        .schedule
        .get_or_insert_with(Default::default)
        .state
        .get_or_insert_with(Default::default);
    if !patch.pause.is_empty() {
        state.paused = true;
        state.notes = patch.pause.clone();
        record.conflict_token += 1;
    }
    if !patch.unpause.is_empty() {
        state.paused = false;
        state.notes = patch.unpause.clone();
        record.conflict_token += 1;
    }
    Ok(())
}

impl Engine {
    pub async fn update_schedule(&self, ns: &Namespace, req: UpdateScheduleRequest) -> Result<()> {
        if req.memo.is_some() {
            return Err(Error::FailedPrecondition(
                "a schedule's memo cannot be changed by UpdateSchedule".into(),
            ));
        }
        let mut schedule = req.schedule.unwrap_or_default();
        self.prepare_schedule(ns, &mut schedule)?;
        let mut search_attributes = req.search_attributes;
        if let Some(sa) = search_attributes.as_mut() {
            super::super::validate_search_attributes(ns, sa)?;
        }
        let (key, _) = self.schedule_of(ns, &req.schedule_id).await?;
        let token = req.conflict_token;
        self.run_scheduler_with(&key, None, move |record, ms| {
            if !token.is_empty() && token != record.conflict_token.to_be_bytes() {
                return Err(Error::FailedPrecondition(
                    "mismatched conflict token".into(),
                ));
            }
            let now = now_nanos();
            record.schedule = Some(schedule);
            record.conflict_token += 1;
            // Times before the update are not taken any more.
            record.processed_until = record.processed_until.max(now);
            record.info.get_or_insert_with(Default::default).update_time = Some(ts(now));
            if let Some(new) = search_attributes {
                let sa = ms.search_attributes.get_or_insert_with(Default::default);
                sa.indexed_fields
                    .retain(|name, _| name == NAMESPACE_DIVISION || name == SCHEDULE_PAUSED);
                sa.indexed_fields.extend(new.indexed_fields);
            }
            Ok(())
        })
        .await
    }

    pub async fn patch_schedule(&self, ns: &Namespace, req: PatchScheduleRequest) -> Result<()> {
        let Some(patch) = req.patch else {
            return Err(invalid("Patch is not set on request."));
        };
        let (key, _) = self.schedule_of(ns, &req.schedule_id).await?;
        let seed = seed(&ns.id, &req.schedule_id);
        self.run_scheduler_with(&key, None, move |record, _| {
            let spec = super::compiled(record.schedule.as_ref().expect("a scheduler's record"))?;
            apply_patch(record, &patch, &spec, &seed, now_nanos())
        })
        .await
    }

    /// Deletes a schedule: its scheduler run ends; the runs it started go on.
    pub async fn delete_schedule(&self, ns: &Namespace, req: DeleteScheduleRequest) -> Result<()> {
        let (key, _) = self.schedule_of(ns, &req.schedule_id).await?;
        let mut guard = self.lock(&key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Err(Error::NotFound("schedule not found".into()));
        }
        txn.terminate("schedule deleted", None, &req.identity);
        self.commit(&mut guard, txn).await?;
        Ok(())
    }
}
