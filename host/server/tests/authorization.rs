//! The authorization layer through a real server on a loopback port, with a real authorizer
//! component (plugins/allow-namespaces: allows the namespaces in its config, denies the rest
//! with a reason). Every namespace a request names is checked: the request's own, those in
//! workflow commands, those in multi-operations; compressed requests too; before the
//! namespace is even looked up.

mod common;

use common::start_request;

use std::path::Path;

use prost::Message;
use sundial_server::config::{Config, NamespaceConfig, PluginConfig};
use temporalio_protos::temporal::api::command::v1::{
    Command, SignalExternalWorkflowExecutionCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes, command::Attributes,
};
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::CommandType;
use temporalio_protos::temporal::api::errordetails::v1::PermissionDeniedFailure;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::execute_multi_operation_request::{
    Operation, operation,
};
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tonic::Code;
use tonic::transport::Channel;

struct Server {
    _running: sundial_server::Running,
    channel: Channel,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config::default();
        config.server.port = 0;
        for name in ["orders", "billing"] {
            config.namespaces.push(NamespaceConfig {
                name: name.into(),
                retention: None,
            });
        }
        let file = Path::new(sundial_builtin_plugins::BUILT_DIR).join("allow_namespaces.wasm");
        config.plugins.push(PluginConfig {
            name: "allow".into(),
            kind: "authorizer".into(),
            schemes: Vec::new(),
            file: Some(file),
            builtin: None,
            limits: Default::default(),
            grants: Default::default(),
            config: [("namespaces".to_string(), "orders".to_string())].into(),
            watch: false,
        });
        config.authorization.authorizer = Some("allow".into());
        adjust(&mut config);
        let running = sundial_server::start(&config, None)
            .await
            .expect("server starts");
        let channel = common::connect(running.addr).await;
        Server {
            _running: running,
            channel,
        }
    }

    async fn call<T: Message, U: Message + Default + Send + 'static>(
        &self,
        method: &str,
        req: T,
        gzip: bool,
    ) -> Result<U, tonic::Status> {
        common::raw_call(&self.channel, method, req.encode_to_vec(), gzip).await
    }
}

/// The call was denied by the authorizer: PermissionDenied, Temporal's message, the reason in
/// a PermissionDeniedFailure detail.
fn assert_denied<T: std::fmt::Debug>(r: Result<T, tonic::Status>, namespace: &str) {
    let status = r.expect_err("the call must be denied");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(status.message(), "Request unauthorized.");
    let details =
        sundial_api::protos::google::rpc::Status::decode(status.details()).expect("rpc status");
    let failure = PermissionDeniedFailure::decode(details.details[0].value.as_slice())
        .expect("PermissionDeniedFailure");
    assert!(
        failure.reason.contains(namespace),
        "reason {:?} names {namespace:?}",
        failure.reason
    );
}

fn assert_not_denied<T: std::fmt::Debug>(r: &Result<T, tonic::Status>) {
    if let Err(status) = r {
        assert_ne!(status.code(), Code::PermissionDenied, "{status:?}");
    }
}

#[tokio::test]
async fn each_namespace_is_authorized_plain_or_compressed() {
    let s = Server::start().await;
    for gzip in [false, true] {
        let ok: Result<StartWorkflowExecutionResponse, _> = s
            .call(
                "StartWorkflowExecution",
                start_request("orders", &format!("ok-{gzip}"), "q"),
                gzip,
            )
            .await;
        ok.expect("orders is allowed");
        let denied: Result<StartWorkflowExecutionResponse, _> = s
            .call(
                "StartWorkflowExecution",
                start_request("billing", "no", "q"),
                gzip,
            )
            .await;
        assert_denied(denied, "billing");
    }
    // Authorization comes before the namespace is looked up: no hint that it exists or not.
    let ghost: Result<DescribeNamespaceResponse, _> = s
        .call(
            "DescribeNamespace",
            DescribeNamespaceRequest {
                namespace: "ghost".into(),
                ..Default::default()
            },
            false,
        )
        .await;
    assert_denied(ghost, "ghost");
    // Calls every client needs stay open.
    let info: Result<GetSystemInfoResponse, _> = s
        .call("GetSystemInfo", GetSystemInfoRequest {}, false)
        .await;
    info.expect("GetSystemInfo is open");
}

#[tokio::test]
#[allow(deprecated)] // the commands' `namespace` fields
async fn namespaces_inside_workflow_commands_are_authorized() {
    let s = Server::start().await;
    let queue = format!("cmd-{}", uuid::Uuid::new_v4());
    let _: StartWorkflowExecutionResponse = s
        .call(
            "StartWorkflowExecution",
            start_request("orders", "parent", &queue),
            false,
        )
        .await
        .unwrap();
    let task: PollWorkflowTaskQueueResponse = s
        .call(
            "PollWorkflowTaskQueue",
            PollWorkflowTaskQueueRequest {
                namespace: "orders".into(),
                task_queue: Some(TaskQueue {
                    name: queue.clone(),
                    ..Default::default()
                }),
                identity: "test".into(),
                ..Default::default()
            },
            false,
        )
        .await
        .unwrap();
    assert!(!task.task_token.is_empty());
    let respond = |commands: Vec<Command>| RespondWorkflowTaskCompletedRequest {
        namespace: "orders".into(),
        task_token: task.task_token.clone(),
        commands,
        identity: "test".into(),
        ..Default::default()
    };
    let child = |namespace: &str| Command {
        command_type: CommandType::StartChildWorkflowExecution as i32,
        attributes: Some(Attributes::StartChildWorkflowExecutionCommandAttributes(
            StartChildWorkflowExecutionCommandAttributes {
                namespace: namespace.into(),
                workflow_id: "child".into(),
                workflow_type: Some(WorkflowType {
                    name: "Child".into(),
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let signal = |namespace: &str| Command {
        command_type: CommandType::SignalExternalWorkflowExecution as i32,
        attributes: Some(
            Attributes::SignalExternalWorkflowExecutionCommandAttributes(
                SignalExternalWorkflowExecutionCommandAttributes {
                    namespace: namespace.into(),
                    execution: Some(WorkflowExecution {
                        workflow_id: "someone".into(),
                        run_id: String::new(),
                    }),
                    signal_name: "poke".into(),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    };
    for commands in [
        vec![child("billing")],
        vec![signal("orders"), signal("billing")],
    ] {
        let r: Result<RespondWorkflowTaskCompletedResponse, _> = s
            .call("RespondWorkflowTaskCompleted", respond(commands), false)
            .await;
        assert_denied(r, "billing");
    }
    // A token with the namespace left empty: the token's namespace is what gets authorized.
    let mut tokened = respond(vec![]);
    tokened.namespace = String::new();
    let r: Result<RespondWorkflowTaskCompletedResponse, _> =
        s.call("RespondWorkflowTaskCompleted", tokened, false).await;
    assert_not_denied(&r);
}

#[tokio::test]
async fn namespaces_inside_multi_operations_are_authorized() {
    let s = Server::start().await;
    let op = |namespace: &str| Operation {
        operation: Some(operation::Operation::StartWorkflow(start_request(
            namespace, "multi", "q",
        ))),
    };
    let request = |inner: &str| ExecuteMultiOperationRequest {
        namespace: "orders".into(),
        operations: vec![op(inner)],
        ..Default::default()
    };
    let denied: Result<ExecuteMultiOperationResponse, _> = s
        .call("ExecuteMultiOperation", request("billing"), false)
        .await;
    assert_denied(denied, "billing");
    let same: Result<ExecuteMultiOperationResponse, _> = s
        .call("ExecuteMultiOperation", request("orders"), false)
        .await;
    assert_not_denied(&same);
}

/// A server records its decisions; the plugin harness replays them against the same
/// component without a server and gets the same answers.
#[tokio::test]
async fn recorded_decisions_replay_in_the_harness() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("decisions.jsonl");
    let path = record.clone();
    let s = Server::start_with(move |c| c.authorization.record_decisions = Some(path)).await;
    let _: StartWorkflowExecutionResponse = s
        .call(
            "StartWorkflowExecution",
            start_request("orders", "rec", "q"),
            false,
        )
        .await
        .unwrap();
    let denied: Result<StartWorkflowExecutionResponse, _> = s
        .call(
            "StartWorkflowExecution",
            start_request("billing", "rec", "q"),
            false,
        )
        .await;
    assert_denied(denied, "billing");

    let mut cases = sundial_plugin_harness::load_cases(&record).unwrap();
    assert_eq!(cases.len(), 2, "one line per decision");
    assert_eq!(cases[0].expect, sundial_plugin_harness::Expect::Allow);
    assert_eq!(cases[1].expect, sundial_plugin_harness::Expect::Deny);
    // The request travelled with the decision: it decodes to what was sent.
    let sent = cases[1].target.to_call_target().unwrap();
    let request = StartWorkflowExecutionRequest::decode(sent.request.as_slice()).unwrap();
    assert_eq!(request.namespace, "billing");
    for case in &mut cases {
        case.config = [("namespaces".to_string(), "orders".to_string())].into();
    }
    let wasm = Path::new(sundial_builtin_plugins::BUILT_DIR).join("allow_namespaces.wasm");
    let harness = sundial_plugin_harness::Harness::new();
    let mismatches = harness.check(&wasm, &cases, &[]).await.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
    // Replayed against a config that allows billing too, the recorded denial no longer holds.
    for case in &mut cases {
        case.config = [("namespaces".to_string(), "orders,billing".to_string())].into();
    }
    let changed = harness.check(&wasm, &cases, &[]).await.unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
}
