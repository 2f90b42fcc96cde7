//! The scenarios and a minimal worker: it polls workflow tasks, reads the history it is sent
//! and answers with the commands the scenario calls for; it polls activity tasks and completes
//! them at once. Each poller hands a task on and polls again at once, as SDK workers do (a
//! poller that answered first would bound throughput by its round trips). Without `sticky`
//! every workflow task carries the whole history; with it the worker keeps each open run's
//! events, asks for its later tasks on a sticky queue of its own (as the SDKs do) and gets
//! only the new events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use temporalio_protos::temporal::api::command::v1::{
    Command, CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
    StartTimerCommandAttributes, command,
};
use temporalio_protos::temporal::api::common::v1::{
    ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType,
};
use temporalio_protos::temporal::api::enums::v1::{CommandType, EventType, TaskQueueKind};
use temporalio_protos::temporal::api::history::v1::HistoryEvent;
use temporalio_protos::temporal::api::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tokio::sync::oneshot;

use crate::client::Client;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// One activity, then complete.
    OneActivity,
    /// Ten activities in sequence, then complete.
    TenActivities,
    /// One durable timer (`--timer-ms`), then complete.
    Timer,
    /// The client sends `--signals` signals; the workflow completes after the last.
    Signals,
    /// Starts only, as fast as they go, with no worker.
    BurstStarts,
    /// One durable timer (`--timer-ms`, say a day), and the workflow counts as done once the
    /// timer is started: it stays open, holding the timer (fills a server with open runs).
    OpenTimer,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::OneActivity => "one-activity",
            Scenario::TenActivities => "ten-activities",
            Scenario::Timer => "timer",
            Scenario::Signals => "signals",
            Scenario::BurstStarts => "burst-starts",
            Scenario::OpenTimer => "open-timer",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Load {
    pub scenario: Scenario,
    /// Workflows in flight at once (closed loop).
    pub concurrency: usize,
    /// How long new workflows are started; those in flight then finish.
    pub duration: Duration,
    pub pollers: usize,
    pub timer: Duration,
    pub signals: usize,
    /// Stop starting workflows after this many (none: only the duration bounds the run).
    pub max_workflows: Option<u64>,
    /// Keep histories and take later workflow tasks on a sticky queue.
    pub sticky: bool,
}

/// What one run measured on the client side.
#[derive(Debug, Default)]
pub struct Measured {
    pub completed: u64,
    pub errors: u64,
    pub wall: Duration,
    /// Start RPC latencies, ms.
    pub start_ms: Vec<f64>,
    /// Start call to workflow completion acknowledged, ms.
    pub e2e_ms: Vec<f64>,
    pub first_error: Option<String>,
    /// Workflow tasks that carried only the events new since the worker's last task.
    pub partial_histories: u64,
}

struct Shared {
    client: Client,
    load: Load,
    task_queue: String,
    /// The worker's sticky queue (with `sticky`).
    sticky_queue: String,
    /// Each open run's events so far, by run id (with `sticky`).
    histories: Mutex<HashMap<String, Vec<HistoryEvent>>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<()>>>,
    stop: AtomicBool,
    /// Workflows the drivers have begun to start (for `max_workflows`).
    begun: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    partial_histories: AtomicU64,
}

impl Shared {
    fn error(&self, what: &str, status: &tonic::Status) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(format!("{what}: {:?} {}", status.code(), status.message()));
        }
    }

    fn task_queue(&self) -> TaskQueue {
        TaskQueue {
            name: self.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }
    }

    fn sticky_queue(&self) -> TaskQueue {
        TaskQueue {
            name: self.sticky_queue.clone(),
            kind: TaskQueueKind::Sticky as i32,
            normal_name: self.task_queue.clone(),
        }
    }

    /// The run's whole history so far, given the events a task carried: a task that starts
    /// at event 1 carries all of it; a sticky one carries what is new since the last.
    fn whole_history(&self, run_id: &str, events: Vec<HistoryEvent>) -> Vec<HistoryEvent> {
        if !self.load.sticky {
            return events;
        }
        let mut histories = self.histories.lock().unwrap();
        let kept = histories.entry(run_id.to_string()).or_default();
        if events.first().is_some_and(|e| e.event_id == 1) {
            kept.clear();
        } else {
            self.partial_histories.fetch_add(1, Ordering::Relaxed);
        }
        kept.extend(events);
        kept.clone()
    }
}

pub async fn run(client: Client, load: Load) -> Measured {
    let shared = Arc::new(Shared {
        client,
        task_queue: format!("bench-{}", uuid::Uuid::new_v4().simple()),
        sticky_queue: format!("bench-sticky-{}", uuid::Uuid::new_v4().simple()),
        histories: Mutex::new(HashMap::new()),
        load: load.clone(),
        waiting: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
        begun: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        partial_histories: AtomicU64::new(0),
    });
    let mut pollers = Vec::new();
    if load.scenario != Scenario::BurstStarts {
        for i in 0..load.pollers {
            // With a sticky queue, half the workflow-task pollers poll it.
            let sticky = load.sticky && i % 2 == 1;
            pollers.push(tokio::spawn(workflow_poller(shared.clone(), sticky)));
            if matches!(
                load.scenario,
                Scenario::OneActivity | Scenario::TenActivities
            ) {
                pollers.push(tokio::spawn(activity_poller(shared.clone())));
            }
        }
    }
    let began = Instant::now();
    let deadline = began + load.duration;
    let drivers: Vec<_> = (0..load.concurrency)
        .map(|_| tokio::spawn(driver(shared.clone(), deadline)))
        .collect();
    let mut measured = Measured::default();
    for d in drivers {
        let (start_ms, e2e_ms) = d.await.expect("driver task");
        measured.start_ms.extend(start_ms);
        measured.e2e_ms.extend(e2e_ms);
    }
    measured.wall = began.elapsed();
    measured.completed = if load.scenario == Scenario::BurstStarts {
        measured.start_ms.len() as u64
    } else {
        measured.e2e_ms.len() as u64
    };
    shared.stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.abort();
    }
    measured.errors = shared.errors.load(Ordering::Relaxed);
    measured.first_error = shared.first_error.lock().unwrap().take();
    measured.partial_histories = shared.partial_histories.load(Ordering::Relaxed);
    measured
}

/// Starts workflows one after another until the deadline, each waiting for the last to end
/// (at least one, however late the driver gets going).
async fn driver(shared: Arc<Shared>, deadline: Instant) -> (Vec<f64>, Vec<f64>) {
    let mut start_ms = Vec::new();
    let mut e2e_ms = Vec::new();
    let mut first = true;
    while std::mem::take(&mut first) || Instant::now() < deadline {
        let begun = shared.begun.fetch_add(1, Ordering::Relaxed);
        if shared.load.max_workflows.is_some_and(|max| begun >= max) {
            break;
        }
        let workflow_id = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let (tx, rx) = oneshot::channel();
        let worker_finishes = shared.load.scenario != Scenario::BurstStarts;
        if worker_finishes {
            shared
                .waiting
                .lock()
                .unwrap()
                .insert(workflow_id.clone(), tx);
        }
        let began = Instant::now();
        let req = StartWorkflowExecutionRequest {
            namespace: shared.client.namespace.clone(),
            workflow_id: workflow_id.clone(),
            workflow_type: Some(WorkflowType {
                name: shared.load.scenario.name().into(),
            }),
            task_queue: Some(shared.task_queue()),
            request_id: uuid::Uuid::new_v4().to_string(),
            identity: "sundial-bench".into(),
            ..Default::default()
        };
        let started: Result<StartWorkflowExecutionResponse, _> = shared
            .client
            .call("StartWorkflowExecution", req, None)
            .await;
        let run_id = match started {
            Ok(r) => r.run_id,
            Err(s) => {
                shared.error("start", &s);
                shared.waiting.lock().unwrap().remove(&workflow_id);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        start_ms.push(began.elapsed().as_secs_f64() * 1e3);
        if !worker_finishes {
            continue;
        }
        if shared.load.scenario == Scenario::Signals {
            for i in 0..shared.load.signals {
                let req = SignalWorkflowExecutionRequest {
                    namespace: shared.client.namespace.clone(),
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: workflow_id.clone(),
                        run_id: run_id.clone(),
                    }),
                    signal_name: "poke".into(),
                    input: Some(payloads(&format!("{i}"))),
                    identity: "sundial-bench".into(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                };
                let r: Result<SignalWorkflowExecutionResponse, _> = shared
                    .client
                    .call("SignalWorkflowExecution", req, None)
                    .await;
                if let Err(s) = r {
                    shared.error("signal", &s);
                }
            }
        }
        match tokio::time::timeout(Duration::from_secs(120), rx).await {
            Ok(Ok(())) => e2e_ms.push(began.elapsed().as_secs_f64() * 1e3),
            _ => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                shared.waiting.lock().unwrap().remove(&workflow_id);
            }
        }
    }
    (start_ms, e2e_ms)
}

fn payloads(text: &str) -> Payloads {
    Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: format!("{text:?}").into_bytes(),
            external_payloads: vec![],
        }],
    }
}

async fn workflow_poller(shared: Arc<Shared>, sticky: bool) {
    while !shared.stop.load(Ordering::Relaxed) {
        let req = PollWorkflowTaskQueueRequest {
            namespace: shared.client.namespace.clone(),
            task_queue: Some(if sticky {
                shared.sticky_queue()
            } else {
                shared.task_queue()
            }),
            identity: "sundial-bench".into(),
            ..Default::default()
        };
        let polled: PollWorkflowTaskQueueResponse = match shared
            .client
            .call("PollWorkflowTaskQueue", req, Some(Duration::from_secs(70)))
            .await
        {
            Ok(r) => r,
            Err(s) => {
                shared.error("poll workflow task", &s);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if polled.task_token.is_empty() {
            continue;
        }
        // As an SDK worker does, the poller hands the task on and polls again at once.
        tokio::spawn(workflow_task(shared.clone(), polled));
    }
}

/// Decides a workflow task and answers it.
async fn workflow_task(shared: Arc<Shared>, polled: PollWorkflowTaskQueueResponse) {
    let execution = polled.workflow_execution.clone().unwrap_or_default();
    let mut events = polled.history.map(|h| h.events).unwrap_or_default();
    let mut token = polled.next_page_token;
    while !token.is_empty() {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: shared.client.namespace.clone(),
            execution: Some(execution.clone()),
            next_page_token: token,
            ..Default::default()
        };
        match shared
            .client
            .call::<_, GetWorkflowExecutionHistoryResponse>(
                "GetWorkflowExecutionHistory",
                req,
                None,
            )
            .await
        {
            Ok(page) => {
                events.extend(page.history.map(|h| h.events).unwrap_or_default());
                token = page.next_page_token;
            }
            Err(s) => {
                shared.error("history page", &s);
                break;
            }
        }
    }
    let events = shared.whole_history(&execution.run_id, events);
    let commands = decide(&shared.load, shared.task_queue(), &events);
    // The workflow is done for the driver when it completes (an open-timer one: when its
    // timer starts).
    let done_with = match shared.load.scenario {
        Scenario::OpenTimer => CommandType::StartTimer,
        _ => CommandType::CompleteWorkflowExecution,
    };
    let completes = commands.iter().any(|c| c.command_type == done_with as i32);
    if completes && shared.load.sticky {
        shared.histories.lock().unwrap().remove(&execution.run_id);
    }
    let sticky_attributes = shared.load.sticky.then(|| StickyExecutionAttributes {
        worker_task_queue: Some(shared.sticky_queue()),
        schedule_to_start_timeout: Some(duration(Duration::from_secs(5))),
    });
    let req = RespondWorkflowTaskCompletedRequest {
        namespace: shared.client.namespace.clone(),
        task_token: polled.task_token,
        commands,
        identity: "sundial-bench".into(),
        sticky_attributes,
        ..Default::default()
    };
    match shared
        .client
        .call::<_, RespondWorkflowTaskCompletedResponse>("RespondWorkflowTaskCompleted", req, None)
        .await
    {
        Ok(_) if completes => {
            if let Some(tx) = shared
                .waiting
                .lock()
                .unwrap()
                .remove(&execution.workflow_id)
            {
                let _ = tx.send(());
            }
        }
        Ok(_) => {}
        Err(s) => shared.error("complete workflow task", &s),
    }
}

async fn activity_poller(shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let req = PollActivityTaskQueueRequest {
            namespace: shared.client.namespace.clone(),
            task_queue: Some(shared.task_queue()),
            identity: "sundial-bench".into(),
            ..Default::default()
        };
        let polled: PollActivityTaskQueueResponse = match shared
            .client
            .call("PollActivityTaskQueue", req, Some(Duration::from_secs(70)))
            .await
        {
            Ok(r) => r,
            Err(s) => {
                shared.error("poll activity task", &s);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if polled.task_token.is_empty() {
            continue;
        }
        tokio::spawn(complete_activity(shared.clone(), polled));
    }
}

async fn complete_activity(shared: Arc<Shared>, polled: PollActivityTaskQueueResponse) {
    let req = RespondActivityTaskCompletedRequest {
        namespace: shared.client.namespace.clone(),
        task_token: polled.task_token,
        result: Some(payloads("done")),
        identity: "sundial-bench".into(),
        ..Default::default()
    };
    if let Err(s) = shared
        .client
        .call::<_, RespondActivityTaskCompletedResponse>("RespondActivityTaskCompleted", req, None)
        .await
    {
        shared.error("complete activity", &s);
    }
}

fn count(events: &[HistoryEvent], kind: EventType) -> usize {
    events
        .iter()
        .filter(|e| e.event_type == kind as i32)
        .count()
}

/// The workflow "code" of each scenario, as a function of the history so far.
fn decide(load: &Load, task_queue: TaskQueue, events: &[HistoryEvent]) -> Vec<Command> {
    let complete = || {
        vec![Command {
            command_type: CommandType::CompleteWorkflowExecution as i32,
            attributes: Some(
                command::Attributes::CompleteWorkflowExecutionCommandAttributes(
                    CompleteWorkflowExecutionCommandAttributes {
                        result: Some(payloads("ok")),
                    },
                ),
            ),
            ..Default::default()
        }]
    };
    match load.scenario {
        Scenario::OneActivity | Scenario::TenActivities => {
            let wanted = if load.scenario == Scenario::OneActivity {
                1
            } else {
                10
            };
            let done = count(events, EventType::ActivityTaskCompleted);
            let scheduled = count(events, EventType::ActivityTaskScheduled);
            if done >= wanted {
                complete()
            } else if scheduled == done {
                vec![schedule_activity(done, task_queue)]
            } else {
                vec![]
            }
        }
        Scenario::Timer | Scenario::OpenTimer => {
            if count(events, EventType::TimerFired) > 0 {
                complete()
            } else if count(events, EventType::TimerStarted) == 0 {
                vec![Command {
                    command_type: CommandType::StartTimer as i32,
                    attributes: Some(command::Attributes::StartTimerCommandAttributes(
                        StartTimerCommandAttributes {
                            timer_id: "t".into(),
                            start_to_fire_timeout: Some(duration(load.timer)),
                        },
                    )),
                    ..Default::default()
                }]
            } else {
                vec![]
            }
        }
        Scenario::Signals => {
            if count(events, EventType::WorkflowExecutionSignaled) >= load.signals {
                complete()
            } else {
                vec![]
            }
        }
        Scenario::BurstStarts => vec![],
    }
}

fn schedule_activity(seq: usize, task_queue: TaskQueue) -> Command {
    Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: format!("{seq}"),
                activity_type: Some(ActivityType {
                    name: "work".into(),
                }),
                task_queue: Some(task_queue),
                input: Some(payloads("input")),
                start_to_close_timeout: Some(duration(Duration::from_secs(30))),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every direct scenario completes workflows without errors against an in-process Sundial.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scenarios_run_against_sundial() {
        let mut config = sundial_server::config::Config::default();
        config.server.port = 0;
        let server = sundial_server::start(&config, None).await.unwrap();
        let address = server.addr.to_string();
        for (scenario, sticky) in [
            (Scenario::OneActivity, false),
            (Scenario::TenActivities, false),
            (Scenario::TenActivities, true),
            (Scenario::Timer, false),
            (Scenario::Signals, false),
            (Scenario::Signals, true),
            (Scenario::BurstStarts, false),
            (Scenario::OpenTimer, false),
        ] {
            let client = Client::connect(&address, "default").await.unwrap();
            let load = Load {
                scenario,
                concurrency: 4,
                duration: Duration::from_millis(300),
                pollers: 2,
                timer: Duration::from_millis(match scenario {
                    Scenario::OpenTimer => 3_600_000,
                    _ => 20,
                }),
                signals: 3,
                max_workflows: None,
                sticky,
            };
            let m = run(client, load).await;
            assert_eq!(m.errors, 0, "{scenario:?} {sticky}: {:?}", m.first_error);
            assert!(m.completed > 0, "{scenario:?} {sticky} completed nothing");
            if scenario != Scenario::BurstStarts {
                assert_eq!(m.e2e_ms.len() as u64, m.completed);
            }
            assert_eq!(m.partial_histories > 0, sticky, "{scenario:?}");
        }
        server.stop().await.unwrap();
    }
}
