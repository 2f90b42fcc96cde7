use sundial_dynamic_config::Values;

use super::*;

fn limits(yaml: &str) -> (Arc<DynamicConfig>, RateLimits) {
    let config = Arc::new(DynamicConfig::new(Values::from_yaml(yaml).unwrap()));
    let limits = RateLimits::new(config.clone(), &Registry::new()).unwrap();
    (config, limits)
}

fn call<'a>(operation: &'static str, namespace: &'a str) -> Admission<'a> {
    Admission {
        operation,
        namespace,
        operator: false,
        long_poll: false,
    }
}

fn cause_and_scope(e: Error) -> (String, ResourceExhaustedCause, ResourceExhaustedScope) {
    match e {
        Error::ResourceExhausted {
            message,
            cause,
            scope,
        } => (message, cause, scope),
        other => panic!("not ResourceExhausted: {other:?}"),
    }
}

#[test]
fn a_namespace_over_its_rate_is_refused_and_others_are_not() {
    let (_, limits) = limits(
        r#"
frontend.namespaceRPS:
  - value: 5
    constraints: {namespace: noisy}
frontend.namespaceBurstRatio:
  - value: 1
"#,
    );
    let admitted = (0..20)
        .filter(|_| {
            limits
                .admit(&call("StartWorkflowExecution", "noisy"))
                .is_ok()
        })
        .count();
    assert_eq!(admitted, 5);
    let e = limits
        .admit(&call("StartWorkflowExecution", "noisy"))
        .err()
        .unwrap();
    assert_eq!(
        cause_and_scope(e),
        (
            "namespace rate limit exceeded".into(),
            ResourceExhaustedCause::RpsLimit,
            ResourceExhaustedScope::Namespace
        )
    );
    for _ in 0..100 {
        assert!(
            limits
                .admit(&call("StartWorkflowExecution", "quiet"))
                .is_ok()
        );
    }
    // Calls outside the classes (the OperatorService's) are never limited.
    for _ in 0..20 {
        assert!(limits.admit(&call("AddSearchAttributes", "noisy")).is_ok());
    }
}

#[test]
fn the_host_limit_covers_every_namespace() {
    let (_, limits) = limits("frontend.rps: [{value: 10}]");
    let admitted = (0..40)
        .filter(|i| {
            let ns = if i % 2 == 0 { "a" } else { "b" };
            limits.admit(&call("SignalWorkflowExecution", ns)).is_ok()
        })
        .count();
    // The burst is twice the rate.
    assert_eq!(admitted, 20);
    let e = limits
        .admit(&call("SignalWorkflowExecution", "c"))
        .err()
        .unwrap();
    assert_eq!(
        cause_and_scope(e),
        (
            "service rate limit exceeded".into(),
            ResourceExhaustedCause::RpsLimit,
            ResourceExhaustedScope::System
        )
    );
}

#[test]
fn visibility_calls_have_buckets_of_their_own() {
    let (_, limits) = limits("");
    let listed = (0..30)
        .filter(|_| limits.admit(&call("ListWorkflowExecutions", "ns")).is_ok())
        .count();
    assert_eq!(listed, limits::NAMESPACE_VISIBILITY_RPS as usize);
    assert!(limits.admit(&call("StartWorkflowExecution", "ns")).is_ok());
}

#[test]
fn long_running_calls_are_counted_while_they_run() {
    let (_, limits) = limits("frontend.namespaceCount: [{value: 2}]");
    let first = limits.admit(&call("PollActivityTaskQueue", "ns")).unwrap();
    let second = limits.admit(&call("PollActivityTaskQueue", "ns")).unwrap();
    assert!(first.is_some() && second.is_some());
    let e = limits
        .admit(&call("PollActivityTaskQueue", "ns"))
        .err()
        .unwrap();
    assert_eq!(
        cause_and_scope(e),
        (
            "namespace concurrent poller limit exceeded".into(),
            ResourceExhaustedCause::ConcurrentLimit,
            ResourceExhaustedScope::Namespace
        )
    );
    // Per method: workflow-task polls have their own count.
    assert!(limits.admit(&call("PollWorkflowTaskQueue", "ns")).is_ok());
    // A history read counts only when it waits.
    for _ in 0..5 {
        assert!(
            limits
                .admit(&call("GetWorkflowExecutionHistory", "ns"))
                .unwrap()
                .is_none()
        );
    }
    drop(first);
    assert!(limits.admit(&call("PollActivityTaskQueue", "ns")).is_ok());
}

#[test]
fn a_changed_config_changes_the_limit_at_once() {
    let (config, limits) = limits("frontend.namespaceRPS: [{value: 2}]");
    let admitted = |n| {
        (0..n)
            .filter(|_| limits.admit(&call("StartWorkflowExecution", "ns")).is_ok())
            .count()
    };
    assert_eq!(admitted(10), 4);
    config.set(Values::from_yaml("frontend.namespaceRPS: [{value: 1000}]").unwrap());
    // The bucket keeps its tokens and fills at the new rate from then on.
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(admitted(100), 100);
}

#[test]
fn operator_calls_have_a_share_of_their_own() {
    let (_, limits) =
        limits("frontend.namespaceRPS: [{value: 3}]\nfrontend.namespaceBurstRatio: [{value: 1}]");
    for _ in 0..3 {
        assert!(
            limits
                .admit(&call("DescribeWorkflowExecution", "ns"))
                .is_ok()
        );
    }
    assert!(
        limits
            .admit(&call("DescribeWorkflowExecution", "ns"))
            .is_err()
    );
    let operator = Admission {
        operator: true,
        ..call("DescribeWorkflowExecution", "ns")
    };
    assert!(limits.admit(&operator).is_ok());
}

#[test]
fn global_quotas_are_shared_between_the_frontends() {
    let (_, limits) = limits(
        "frontend.globalNamespaceRPS: [{value: 30}]\nfrontend.namespaceBurstRatio: [{value: 1}]",
    );
    limits.set_frontends(3);
    let admitted = (0..30)
        .filter(|_| limits.admit(&call("StartWorkflowExecution", "ns")).is_ok())
        .count();
    assert_eq!(admitted, 10);
}
