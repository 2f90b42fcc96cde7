//! The frontend against bad input, through a real server on a loopback port: requests are
//! sent as gRPC over HTTP/2 exactly as an SDK sends them (including byte strings that no
//! SDK would produce, such as invalid UTF-8), and each rejected request must leave nothing
//! behind.

mod common;

use prost::Message;
use sundial_server::config::Config;
use temporalio_protos::temporal::api::common::v1::{Payload, Payloads, WorkflowExecution};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tonic::Code;
use tonic::transport::Channel;

struct Server {
    running: sundial_server::Running,
    channel: Channel,
}

impl Server {
    async fn start() -> Server {
        let mut config = Config::default();
        config.server.port = 0;
        config
            .namespaces
            .push(sundial_server::config::NamespaceConfig {
                name: "other".into(),
                retention: None,
            });
        let running = sundial_server::start(&config, None)
            .await
            .expect("server starts");
        let channel = common::connect(running.addr).await;
        Server { running, channel }
    }

    async fn raw<U: Message + Default + Send + 'static>(
        &self,
        method: &str,
        body: Vec<u8>,
    ) -> Result<U, tonic::Status> {
        common::raw_call(&self.channel, method, body, false).await
    }

    async fn call<T: Message, U: Message + Default + Send + 'static>(
        &self,
        method: &str,
        req: T,
    ) -> Result<U, tonic::Status> {
        self.raw(method, req.encode_to_vec()).await
    }

    /// Runs in the namespace, once every visibility write queued so far is in the store.
    async fn count(&self, namespace: &str) -> i64 {
        self.running.engine.flush_visibility().await;
        let r: CountWorkflowExecutionsResponse = self
            .call(
                "CountWorkflowExecutions",
                CountWorkflowExecutionsRequest {
                    namespace: namespace.into(),
                    query: String::new(),
                },
            )
            .await
            .expect("count");
        r.count
    }
}

async fn history_len(s: &Server, workflow_id: &str, run_id: &str) -> usize {
    let req = GetWorkflowExecutionHistoryRequest {
        namespace: "default".into(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: run_id.into(),
        }),
        ..Default::default()
    };
    let r: GetWorkflowExecutionHistoryResponse =
        s.call("GetWorkflowExecutionHistory", req).await.unwrap();
    r.history.unwrap().events.len()
}

fn start_request(namespace: &str, workflow_id: &str) -> StartWorkflowExecutionRequest {
    common::start_request(namespace, workflow_id, "probe-tq")
}

fn expect_code<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, needle: &str) {
    let status = r.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} should mention {needle:?}",
        status.message()
    );
}

#[tokio::test]
async fn invalid_utf8_is_invalid_argument_and_persists_nothing() {
    let s = Server::start().await;
    // A valid request whose workflow id bytes are then corrupted in place on the wire.
    let marker = "ZZZZ-utf8-probe";
    let mut body = start_request("default", marker).encode_to_vec();
    let at = body
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    body[at] = 0xff;
    body[at + 1] = 0xfe;
    let r = s
        .raw::<StartWorkflowExecutionResponse>("StartWorkflowExecution", body)
        .await;
    expect_code(r, Code::InvalidArgument, "malformed request");
    assert_eq!(s.count("default").await, 0);

    // The same request intact is accepted: the rejection was about the bytes.
    let ok: Result<StartWorkflowExecutionResponse, _> = s
        .call("StartWorkflowExecution", start_request("default", marker))
        .await;
    assert!(!ok.unwrap().run_id.is_empty());
    assert_eq!(s.count("default").await, 1);
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_payload_is_rejected_and_persists_nothing() {
    let s = Server::start().await;
    let mut req = start_request("default", "too-big");
    req.input = Some(Payloads {
        payloads: vec![Payload {
            metadata: Default::default(),
            data: vec![b'x'; 2 * 1024 * 1024 + 1],
            external_payloads: vec![],
        }],
    });
    let r: Result<StartWorkflowExecutionResponse, _> = s.call("StartWorkflowExecution", req).await;
    expect_code(r, Code::InvalidArgument, "Blob data size exceeds limit");
    assert_eq!(s.count("default").await, 0);

    // Signals are checked as well, and the rejected signal leaves the history untouched.
    let started: StartWorkflowExecutionResponse = s
        .call(
            "StartWorkflowExecution",
            start_request("default", "sig-target"),
        )
        .await
        .unwrap();
    let before = history_len(&s, "sig-target", &started.run_id).await;
    let r: Result<SignalWorkflowExecutionResponse, _> = s
        .call(
            "SignalWorkflowExecution",
            SignalWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: "sig-target".into(),
                    run_id: String::new(),
                }),
                signal_name: "big".into(),
                input: Some(Payloads {
                    payloads: vec![Payload {
                        metadata: Default::default(),
                        data: vec![0u8; 3 * 1024 * 1024],
                        external_payloads: vec![],
                    }],
                }),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            },
        )
        .await;
    expect_code(r, Code::InvalidArgument, "Blob data size exceeds limit");
    assert_eq!(history_len(&s, "sig-target", &started.run_id).await, before);
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn missing_fields_are_named() {
    let s = Server::start().await;
    let cases: Vec<(StartWorkflowExecutionRequest, &str)> = vec![
        (start_request("default", ""), "WorkflowId"),
        (
            StartWorkflowExecutionRequest {
                workflow_type: None,
                ..start_request("default", "w")
            },
            "WorkflowType",
        ),
        (
            StartWorkflowExecutionRequest {
                task_queue: None,
                ..start_request("default", "w")
            },
            "TaskQueue",
        ),
        (start_request("", "w"), "Namespace"),
    ];
    for (req, field) in cases {
        let r: Result<StartWorkflowExecutionResponse, _> =
            s.call("StartWorkflowExecution", req).await;
        expect_code(r, Code::InvalidArgument, field);
    }
    assert_eq!(s.count("default").await, 0);
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_namespace_is_not_found() {
    let s = Server::start().await;
    let r: Result<DescribeNamespaceResponse, _> = s
        .call(
            "DescribeNamespace",
            DescribeNamespaceRequest {
                namespace: "no-such-namespace".into(),
                ..Default::default()
            },
        )
        .await;
    expect_code(r, Code::NotFound, "no-such-namespace");
    let r: Result<StartWorkflowExecutionResponse, _> = s
        .call(
            "StartWorkflowExecution",
            start_request("no-such-namespace", "w"),
        )
        .await;
    expect_code(r, Code::NotFound, "no-such-namespace");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn forged_and_foreign_task_tokens_are_refused() {
    let s = Server::start().await;
    let complete = |namespace: &str, token: Vec<u8>| RespondActivityTaskCompletedRequest {
        namespace: namespace.into(),
        task_token: token,
        identity: "test".into(),
        ..Default::default()
    };
    // Bytes that are not a token at all.
    let r: Result<RespondActivityTaskCompletedResponse, _> = s
        .call(
            "RespondActivityTaskCompleted",
            complete("default", vec![0xff; 40]),
        )
        .await;
    expect_code(r, Code::InvalidArgument, "task token");
    let r: Result<RespondActivityTaskCompletedResponse, _> = s
        .call("RespondActivityTaskCompleted", complete("default", vec![]))
        .await;
    expect_code(r, Code::InvalidArgument, "Task token not set");

    // A real token, minted for a workflow task in `default`, presented in `other`.
    s.call::<_, StartWorkflowExecutionResponse>(
        "StartWorkflowExecution",
        start_request("default", "token-owner"),
    )
    .await
    .unwrap();
    let polled: PollWorkflowTaskQueueResponse = s
        .call(
            "PollWorkflowTaskQueue",
            PollWorkflowTaskQueueRequest {
                namespace: "default".into(),
                task_queue: Some(TaskQueue {
                    name: "probe-tq".into(),
                    ..Default::default()
                }),
                identity: "test".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!polled.task_token.is_empty());
    let r: Result<RespondWorkflowTaskCompletedResponse, _> = s
        .call(
            "RespondWorkflowTaskCompleted",
            RespondWorkflowTaskCompletedRequest {
                namespace: "other".into(),
                task_token: polled.task_token.clone(),
                identity: "test".into(),
                ..Default::default()
            },
        )
        .await;
    expect_code(r, Code::InvalidArgument, "different namespace");

    // In its own namespace the same token still works: the refusal changed nothing.
    let r: Result<RespondWorkflowTaskCompletedResponse, _> = s
        .call(
            "RespondWorkflowTaskCompleted",
            RespondWorkflowTaskCompletedRequest {
                namespace: "default".into(),
                task_token: polled.task_token,
                identity: "test".into(),
                ..Default::default()
            },
        )
        .await;
    r.expect("the owner completes its task");
    s.running.stop().await.unwrap();
}
