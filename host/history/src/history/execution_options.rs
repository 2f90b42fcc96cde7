//! UpdateWorkflowExecutionOptions: a running workflow's versioning override and priority,
//! changed from outside, as Temporal 1.32 does it. The masked fields of the request are merged
//! into the run's current options; a change is recorded as a WorkflowExecutionOptionsUpdated
//! event (one workers may ignore), and no change records nothing.
//!
//! Sundial has no worker deployments yet, so no version exists that a run could be pinned to:
//! a pinned (or one-time) override is refused as Temporal refuses one whose version its task
//! queue does not have. An auto-upgrade override is kept and described.

use temporalio_protos::temporal::api::{
    common::v1::Priority,
    enums::v1::VersioningBehavior,
    history::v1::WorkflowExecutionOptionsUpdatedEventAttributes,
    workflow::v1::{
        PostResetOperation, VersioningOverride, WorkflowExecutionOptions,
        post_reset_operation::Variant,
        versioning_override::{Override, PinnedOverrideBehavior},
    },
    workflowservice::v1::UpdateWorkflowExecutionOptionsRequest,
};

use super::{Engine, Txn};
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;

impl Engine {
    /// Merges the request's masked options into the run's and answers the result.
    pub async fn update_workflow_options(
        &self,
        ns: &Namespace,
        r: UpdateWorkflowExecutionOptionsRequest,
    ) -> Result<WorkflowExecutionOptions> {
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let requested = r.workflow_execution_options.unwrap_or_default();
        let mut guard = self.running_run(ns, r.workflow_execution).await?;
        let mut txn = self.begin(&guard);
        let task_queue = txn
            .ms
            .started
            .as_ref()
            .and_then(|s| s.task_queue.as_ref())
            .map(|t| t.name.clone())
            .unwrap_or_default();
        check_override(
            requested.versioning_override.as_ref(),
            txn.ms.versioning_override.as_ref(),
            &txn.ms.workflow_id,
            &task_queue,
        )?;
        let (merged, changed) = txn.apply_workflow_options(&requested, &paths, &r.identity)?;
        if changed {
            self.commit(&mut guard, txn).await?;
        }
        Ok(merged)
    }
}

/// Refuses a reset's post-reset operations Temporal refuses: any but an options update, and
/// an options update whose override is refused (checked against the base run's task queue).
pub(super) fn check_post_reset(
    operations: &[PostResetOperation],
    current: Option<&VersioningOverride>,
    workflow_id: &str,
    task_queue: &str,
) -> Result<()> {
    for operation in operations {
        match &operation.variant {
            Some(Variant::UpdateWorkflowOptions(u)) => check_override(
                u.workflow_execution_options
                    .as_ref()
                    .and_then(|o| o.versioning_override.as_ref()),
                current,
                workflow_id,
                task_queue,
            )?,
            Some(Variant::SignalWorkflow(_)) => {
                return Err(invalid(
                    "unsupported post reset operation: *workflow.PostResetOperation_SignalWorkflow_",
                ));
            }
            None => return Err(invalid("unsupported post reset operation: <nil>")),
        }
    }
    Ok(())
}

impl Txn<'_> {
    /// Merges `requested`'s fields that `paths` name into the run's options, recording a
    /// change; the options after, and whether they changed.
    pub(super) fn apply_workflow_options(
        &mut self,
        requested: &WorkflowExecutionOptions,
        paths: &[String],
        identity: &str,
    ) -> Result<(WorkflowExecutionOptions, bool)> {
        let current = self.current_options();
        let merged = merge(current.clone(), requested, paths)
            .map_err(|e| invalid(format!("error applying update_options: {e}")))?;
        let changed = merged != current;
        if changed {
            self.options_updated(&merged, identity);
        }
        Ok((merged, changed))
    }

    /// The options updates among a reset's post-reset operations, applied to the new run.
    pub(super) fn apply_post_reset(&mut self, operations: &[PostResetOperation]) -> Result<()> {
        for operation in operations {
            if let Some(Variant::UpdateWorkflowOptions(u)) = &operation.variant {
                let paths = u.update_mask.clone().map(|m| m.paths).unwrap_or_default();
                let requested = u.workflow_execution_options.clone().unwrap_or_default();
                self.apply_workflow_options(&requested, &paths, "")?;
            }
        }
        Ok(())
    }

    /// The run's options now: its override, and its priority (as it started unless changed).
    pub(super) fn current_options(&self) -> WorkflowExecutionOptions {
        let started = self.ms.started.as_ref().and_then(|s| s.priority.clone());
        WorkflowExecutionOptions {
            versioning_override: self.ms.versioning_override.clone(),
            priority: Some(self.ms.priority.clone().or(started).unwrap_or_default()),
            ..Default::default()
        }
    }

    /// Records `options` as the run's (its event, and the run's state).
    pub(super) fn options_updated(&mut self, options: &WorkflowExecutionOptions, identity: &str) {
        let versioning_override = options.versioning_override.as_ref().and_then(as_v32);
        let attrs = WorkflowExecutionOptionsUpdatedEventAttributes {
            unset_versioning_override: versioning_override.is_none(),
            versioning_override: versioning_override.clone(),
            identity: identity.to_string(),
            priority: options.priority.clone(),
            ..Default::default()
        };
        self.add_external_ignorable(attrs);
        self.ms.has_versioning_info |= versioning_override.is_some();
        self.ms.versioning_override = versioning_override;
        self.ms.priority = options.priority.clone();
    }
}

/// Refuses an override Temporal refuses: malformed ones, and (no version existing here) any
/// that pins the run or moves it to a version. `current` is the run's override now.
fn check_override(
    o: Option<&VersioningOverride>,
    current: Option<&VersioningOverride>,
    workflow_id: &str,
    task_queue: &str,
) -> Result<()> {
    let Some(o) = o else { return Ok(()) };
    let absent = |deployment: &str, build_id: &str| {
        Error::FailedPrecondition(format!(
            "Pinned version '{deployment}:{build_id}' is not present in task queue '{task_queue}' of type 'Workflow'"
        ))
    };
    match &o.r#override {
        Some(Override::AutoUpgrade(true)) => Ok(()),
        Some(Override::AutoUpgrade(false)) => Err(invalid("auto-upgrade override must be true")),
        Some(Override::Pinned(p)) => {
            let behavior_set = p.behavior != PinnedOverrideBehavior::Unspecified as i32;
            match &p.version {
                // The run would keep the version it is pinned to; it is pinned to none.
                None if behavior_set => Err(Error::FailedPrecondition(format!(
                    "must specify a specific pinned override version because workflow with id {workflow_id} has behavior {} and is not yet pinned to any version",
                    effective_behavior_name(current)
                ))),
                None => Err(invalid("must provide version if override is pinned.")),
                Some(_) if !behavior_set => Err(invalid(
                    "must specify pinned override behavior if override is pinned.",
                )),
                Some(v) => Err(absent(&v.deployment_name, &v.build_id)),
            }
        }
        Some(Override::OneTime(t)) => match &t.target_deployment_version {
            None => Err(invalid(
                "must provide target deployment version if override is one-time.",
            )),
            Some(v) => Err(absent(&v.deployment_name, &v.build_id)),
        },
        // The deprecated form: a behavior, with a deployment or a version string.
        #[allow(deprecated)]
        None => match VersioningBehavior::try_from(o.behavior) {
            Ok(VersioningBehavior::AutoUpgrade) if o.deployment.is_some() => {
                Err(invalid("only provide deployment if behavior is 'PINNED'"))
            }
            Ok(VersioningBehavior::AutoUpgrade) if !o.pinned_version.is_empty() => Err(invalid(
                "only provide pinned version if behavior is 'PINNED'",
            )),
            Ok(VersioningBehavior::AutoUpgrade) => Ok(()),
            Ok(VersioningBehavior::Pinned) => match (&o.deployment, o.pinned_version.as_str()) {
                (Some(d), _) => Err(absent(&d.series_name, &d.build_id)),
                (None, "") => Err(invalid(
                    "must provide deployment (deprecated) or pinned version if behavior is 'PINNED'",
                )),
                (None, version) => {
                    let (deployment, build_id) = version.split_once(':').ok_or_else(|| {
                        invalid(format!(
                            "invalid version string '{version}', expected format is '<deployment_name>:<build_id>'"
                        ))
                    })?;
                    Err(absent(deployment, build_id))
                }
            },
            Ok(VersioningBehavior::Unspecified) => Err(invalid("override behavior is required")),
            _ => Err(invalid(format!(
                "override behavior {} not recognized",
                o.behavior
            ))),
        },
    }
}

/// The behavior a run has by its override (no worker here reports one), as Go names it.
fn effective_behavior_name(o: Option<&VersioningOverride>) -> &'static str {
    match o.and_then(as_v32).and_then(|o| o.r#override) {
        Some(Override::AutoUpgrade(_)) => "AutoUpgrade",
        Some(Override::Pinned(_)) => "Pinned",
        _ => "Unspecified",
    }
}

/// An override in its current form (the deprecated behavior becomes the oneof); none for an
/// unspecified behavior.
#[allow(deprecated)]
fn as_v32(o: &VersioningOverride) -> Option<VersioningOverride> {
    let r#override = match &o.r#override {
        Some(x) => x.clone(),
        None => match VersioningBehavior::try_from(o.behavior) {
            Ok(VersioningBehavior::AutoUpgrade) => Override::AutoUpgrade(true),
            _ => return None,
        },
    };
    Some(VersioningOverride {
        r#override: Some(r#override),
        ..Default::default()
    })
}

/// An override as DescribeWorkflowExecution shows it: with the deprecated behavior filled in
/// for older clients.
#[allow(deprecated)]
pub(crate) fn described_override(o: &VersioningOverride) -> VersioningOverride {
    let mut o = o.clone();
    if let Some(Override::AutoUpgrade(true)) = o.r#override {
        o.behavior = VersioningBehavior::AutoUpgrade as i32;
    }
    o
}

/// `from`'s fields that `paths` name, merged into `into`.
fn merge(
    mut into: WorkflowExecutionOptions,
    from: &WorkflowExecutionOptions,
    paths: &[String],
) -> std::result::Result<WorkflowExecutionOptions, String> {
    let has = |p: &str| paths.iter().any(|x| x == p);
    if has("versioning_override") {
        into.versioning_override = from.versioning_override.clone();
    }
    let (deployment, behavior) = (
        has("versioning_override.deployment"),
        has("versioning_override.behavior"),
    );
    if deployment != behavior {
        return Err("versioning_override fields must be updated together".into());
    }
    if deployment {
        into.versioning_override = from.versioning_override.clone();
    }
    if paths.iter().any(|p| {
        p.starts_with("versioning_override.")
            && p != "versioning_override.deployment"
            && p != "versioning_override.behavior"
    }) {
        return Err("versioning_override doesn't support partial updates".into());
    }
    let given = from.priority.clone().unwrap_or_default();
    if has("priority") {
        into.priority = from.priority.clone();
    }
    fn priority(into: &mut WorkflowExecutionOptions) -> &mut Priority {
        into.priority.get_or_insert_with(Priority::default)
    }
    if has("priority.priority_key") {
        priority(&mut into).priority_key = given.priority_key;
    }
    if has("priority.fairness_key") {
        priority(&mut into).fairness_key = given.fairness_key.clone();
    }
    if has("priority.fairness_weight") {
        priority(&mut into).fairness_weight = given.fairness_weight;
    }
    if paths.iter().any(|p| p.starts_with("time_skipping_config")) {
        return Err("time skipping is not supported by Sundial".into());
    }
    Ok(into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn masked_fields_merge_and_others_stay() {
        let current = WorkflowExecutionOptions {
            priority: Some(Priority {
                priority_key: 2,
                fairness_key: "k".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let from = WorkflowExecutionOptions {
            versioning_override: Some(VersioningOverride {
                r#override: Some(Override::AutoUpgrade(true)),
                ..Default::default()
            }),
            priority: Some(Priority {
                priority_key: 4,
                ..Default::default()
            }),
            ..Default::default()
        };
        let merged = merge(current.clone(), &from, &paths(&["priority.priority_key"])).unwrap();
        assert_eq!(merged.priority.as_ref().unwrap().priority_key, 4);
        assert_eq!(merged.priority.as_ref().unwrap().fairness_key, "k");
        assert!(merged.versioning_override.is_none());
        let merged = merge(
            current.clone(),
            &from,
            &paths(&["priority", "versioning_override"]),
        )
        .unwrap();
        assert_eq!(merged, from);
        assert_eq!(merge(current.clone(), &from, &[]).unwrap(), current);
        assert_eq!(
            merge(
                current.clone(),
                &from,
                &paths(&["versioning_override.auto_upgrade"])
            ),
            Err("versioning_override doesn't support partial updates".into())
        );
        assert_eq!(
            merge(current, &from, &paths(&["versioning_override.behavior"])),
            Err("versioning_override fields must be updated together".into())
        );
    }

    #[test]
    fn only_auto_upgrade_overrides_are_taken() {
        let auto = VersioningOverride {
            r#override: Some(Override::AutoUpgrade(true)),
            ..Default::default()
        };
        assert!(check_override(Some(&auto), None, "w", "q").is_ok());
        assert!(check_override(None, None, "w", "q").is_ok());
        let e = check_override(Some(&VersioningOverride::default()), None, "w", "q").unwrap_err();
        assert_eq!(
            e.to_string(),
            invalid("override behavior is required").to_string()
        );
    }
}
