//! Real components, compiled from `plugins/` for wasm32-wasip2 (by host/builtin-plugins), loaded by the
//! host: decisions, config values, and hostile behaviour (endless loop, memory bomb, trap,
//! huge answer) contained as faults while the host keeps serving.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use sundial_plugin_host::{
    AuthInfo, Authorization, Authorizer, CallTarget, Claims, Decision, FaultCause, Limits,
    MAX_REASON_BYTES, Runtime, Spec,
};

fn component(name: &str) -> Vec<u8> {
    // host/builtin-plugins builds all of plugins/ (fixtures included) for wasm32-wasip2.
    let dir = Path::new(sundial_builtin_plugins::BUILT_DIR);
    std::fs::read(dir.join(format!("{name}.wasm"))).expect("built component")
}

fn target(namespace: &str, method: &str) -> CallTarget {
    CallTarget {
        api_name: format!("/temporal.api.workflowservice.v1.WorkflowService/{method}"),
        namespace: namespace.into(),
        request_type: format!("temporal.api.workflowservice.v1.{method}Request"),
        request: vec![],
    }
}

/// `plugin`'s answer for `method` on `namespace`, with test claims.
async fn ask(
    plugin: &Authorizer,
    namespace: &str,
    method: &str,
) -> Result<Authorization, sundial_plugin_host::Fault> {
    plugin
        .authorize(Some(&claims()), &target(namespace, method))
        .await
}

fn claims() -> Claims {
    Claims {
        subject: "tester".into(),
        system: 0,
        namespaces: vec![],
        auth_type: "jwt".into(),
        extensions: None,
        expires_at: None,
    }
}

/// Default memory cap, and a deadline long enough that a loaded CI machine never trips it
/// by accident (the deadline itself is tested with a short one).
fn calm() -> Limits {
    Limits {
        deadline: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What to load: `wasm` as `name`, with limits and config.
fn spec(name: &str, wasm: &[u8], limits: Limits, config: HashMap<String, String>) -> Spec {
    Spec::new(name, wasm).limits(limits).config(config)
}

#[tokio::test]
async fn example_authorizer_decides_by_its_config() {
    let rt = Runtime::new().unwrap();
    let wasm = component("allow_namespaces");
    let plugin = rt
        .load_authorizer(&spec(
            "allow-namespaces",
            &wasm,
            calm(),
            config(&[("namespaces", "orders, billing")]),
        ))
        .unwrap();
    assert_eq!(plugin.sha256().len(), 64);

    let allowed = ask(&plugin, "billing", "StartWorkflowExecution")
        .await
        .unwrap();
    assert_eq!(allowed.decision, Decision::Allow);

    let denied = ask(&plugin, "payroll", "StartWorkflowExecution")
        .await
        .unwrap();
    assert_eq!(denied.decision, Decision::Deny);
    assert!(denied.reason.unwrap().contains("payroll"));

    let info = plugin
        .authorize(None, &target("", "GetSystemInfo"))
        .await
        .unwrap();
    assert_eq!(info.decision, Decision::Allow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_in_flight() {
    let rt = Runtime::new().unwrap();
    let plugin = std::sync::Arc::new(
        rt.load_authorizer(&spec(
            "allow-namespaces",
            &component("allow_namespaces"),
            calm(),
            config(&[("namespaces", "orders")]),
        ))
        .unwrap(),
    );
    let calls: Vec<_> = (0..300)
        .map(|i| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                let ns = if i % 2 == 0 { "orders" } else { "other" };
                let d = ask(&plugin, ns, "SignalWorkflowExecution").await.unwrap();
                (ns, d.decision)
            })
        })
        .collect();
    for call in calls {
        let (ns, decision) = call.await.unwrap();
        let want = if ns == "orders" {
            Decision::Allow
        } else {
            Decision::Deny
        };
        assert_eq!(decision, want);
    }
}

async fn hostile(mode: &str, limits: Limits) -> Result<sundial_plugin_host::Authorization, String> {
    let rt = Runtime::new().unwrap();
    let plugin = rt
        .load_authorizer(&spec(
            "hostile",
            &component("hostile"),
            limits,
            config(&[("mode", mode)]),
        ))
        .unwrap();
    let outcome = ask(&plugin, "default", "StartWorkflowExecution")
        .await
        .map_err(|f| f.to_string());
    // The same plugin in another mode, and the host, still work afterwards.
    let calm = rt
        .load_authorizer(&spec("calm", &component("hostile"), calm(), config(&[])))
        .unwrap();
    let after = ask(&calm, "default", "StartWorkflowExecution")
        .await
        .unwrap();
    assert_eq!(after.decision, Decision::Allow);
    outcome
}

#[tokio::test]
async fn endless_loop_hits_the_deadline() {
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    // The epoch deadline, not anything else, ended the call.
    let fault = hostile("loop", limits).await.unwrap_err();
    assert!(fault.contains("deadline exceeded"), "{fault}");
}

#[tokio::test]
async fn memory_bomb_is_stopped_at_the_cap() {
    let fault = hostile("memory", calm()).await.unwrap_err();
    assert!(fault.contains("growing memory"), "{fault}");
}

#[tokio::test]
async fn trap_is_a_fault() {
    let fault = hostile("trap", calm()).await.unwrap_err();
    assert!(fault.contains("trap"), "{fault}");
}

#[tokio::test]
async fn huge_answer_is_cut_or_refused() {
    // Under the 16 MiB cap the 64 MiB answer cannot even be built.
    hostile("huge", calm()).await.unwrap_err();
    // With room for it, the reason reaches the host but is cut to the limit.
    let roomy = Limits {
        memory_bytes: 512 << 20,
        deadline: Duration::from_secs(10),
        fuel: None,
    };
    let decision = hostile("huge", roomy).await.unwrap();
    assert_eq!(decision.decision, Decision::Deny);
    assert!(decision.reason.unwrap().len() <= MAX_REASON_BYTES);
}

#[tokio::test]
async fn bytes_that_are_not_an_authorizer_are_refused() {
    let rt = Runtime::new().unwrap();
    assert!(
        rt.load_authorizer(&spec("junk", b"not wasm at all", calm(), config(&[])))
            .is_err()
    );
}

fn auth_info(token: &str) -> AuthInfo {
    AuthInfo {
        auth_token: token.into(),
        extra_data: String::new(),
        tls_subject: None,
        tls_server_name: None,
        audience: String::new(),
    }
}

#[tokio::test]
async fn example_claim_mapper_maps_its_token() {
    let rt = Runtime::new().unwrap();
    let mapper = rt
        .load_claim_mapper(&spec(
            "static-claims",
            &component("static_claims"),
            calm(),
            config(&[
                ("token", "s3cret"),
                ("subject", "ops"),
                (
                    "permissions",
                    "orders:read,orders:WRITE,temporal-system:read,billing:bogus",
                ),
            ]),
        ))
        .unwrap();
    assert!(mapper.auth_info_required().await.unwrap());
    let claims = mapper
        .get_claims(&auth_info("Bearer s3cret"))
        .await
        .unwrap();
    assert_eq!(claims.subject, "ops");
    assert_eq!(claims.system, 2);
    let roles: Vec<(String, u8)> = claims
        .namespaces
        .iter()
        .map(|n| (n.namespace.clone(), n.role))
        .collect();
    assert_eq!(roles, vec![("orders".into(), 6), ("billing".into(), 0)]);

    for bad in ["Bearer nope", "s3cret", ""] {
        let fault = mapper.get_claims(&auth_info(bad)).await.unwrap_err();
        assert!(
            fault.to_string().contains("returned an error"),
            "{bad:?}: {fault}"
        );
    }
}

#[tokio::test]
async fn an_authorizer_is_not_a_claim_mapper() {
    let rt = Runtime::new().unwrap();
    assert!(
        rt.load_claim_mapper(&spec(
            "wrong",
            &component("allow_namespaces"),
            calm(),
            config(&[])
        ))
        .is_err()
    );
    assert!(
        rt.load_authorizer(&spec(
            "wrong",
            &component("static_claims"),
            calm(),
            config(&[])
        ))
        .is_err()
    );
}

/// Swapping versions under load fails no call; a broken replacement is refused and the old
/// version keeps deciding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_load() {
    let rt = std::sync::Arc::new(Runtime::new().unwrap());
    let wasm = component("allow_namespaces");
    let slot = std::sync::Arc::new(sundial_plugin_host::AuthorizerSlot::new(
        rt.load_authorizer(&spec(
            "allow",
            &wasm,
            calm(),
            config(&[("namespaces", "orders")]),
        ))
        .unwrap(),
    ));
    let first = slot.current().sha256().to_string();
    let calls: Vec<_> = (0..400)
        .map(|_| {
            let slot = slot.clone();
            tokio::spawn(async move {
                let plugin = slot.current();
                ask(&plugin, "orders", "StartWorkflowExecution")
                    .await
                    .map(|d| d.decision)
            })
        })
        .collect();
    // New versions while those calls run: the same rule, then one that also allows `billing`.
    slot.reload(
        &rt,
        &spec("allow", &wasm, calm(), config(&[("namespaces", "orders")])),
    )
    .unwrap();
    let version = slot
        .reload(
            &rt,
            &spec(
                "allow",
                &wasm,
                calm(),
                config(&[("namespaces", "orders,billing")]),
            ),
        )
        .unwrap();
    assert_eq!(version, first, "same bytes, same version hash");
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), Decision::Allow);
    }
    let billing = ask(&slot.current(), "billing", "StartWorkflowExecution")
        .await
        .unwrap();
    assert_eq!(billing.decision, Decision::Allow, "the new version decides");

    // A broken replacement is refused; the version before it keeps serving.
    assert!(
        slot.reload(&rt, &spec("allow", b"\0asm broken", calm(), config(&[])))
            .is_err()
    );
    let still = ask(&slot.current(), "billing", "StartWorkflowExecution")
        .await
        .unwrap();
    assert_eq!(still.decision, Decision::Allow);
}

#[tokio::test]
async fn fuel_limit_stops_a_loop() {
    let limits = Limits {
        fuel: Some(5_000_000),
        ..calm()
    };
    let rt = Runtime::new().unwrap();
    let plugin = rt
        .load_authorizer(&spec(
            "hostile",
            &component("hostile"),
            limits,
            config(&[("mode", "loop")]),
        ))
        .unwrap();
    let fault = ask(&plugin, "default", "StartWorkflowExecution")
        .await
        .unwrap_err();
    assert_eq!(fault.cause, FaultCause::Fuel, "{fault}");
    assert!(fault.to_string().contains("out of fuel"), "{fault}");
}

#[tokio::test]
async fn metrics_count_calls_denials_and_faults() {
    let rt = Runtime::new().unwrap();
    let allow = rt
        .load_authorizer(&spec(
            "allow",
            &component("allow_namespaces"),
            calm(),
            config(&[("namespaces", "orders")]),
        ))
        .unwrap();
    ask(&allow, "orders", "StartWorkflowExecution")
        .await
        .unwrap();
    ask(&allow, "other", "StartWorkflowExecution")
        .await
        .unwrap();
    let trap = rt
        .load_authorizer(&spec(
            "trap",
            &component("hostile"),
            calm(),
            config(&[("mode", "trap")]),
        ))
        .unwrap();
    ask(&trap, "orders", "StartWorkflowExecution")
        .await
        .unwrap_err();
    rt.metrics()
        .set_loaded("allow", "authorizer", allow.sha256());
    let text = rt.metrics().render();
    for line in [
        r#"sundial_plugin_calls_total{outcome="allow",plugin="allow"} 1"#,
        r#"sundial_plugin_calls_total{outcome="deny",plugin="allow"} 1"#,
        r#"sundial_plugin_denials_total{plugin="allow"} 1"#,
        r#"sundial_plugin_faults_total{cause="trap",plugin="trap"} 1"#,
        r#"sundial_plugin_call_seconds_count{plugin="allow"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    let version = format!(
        r#"sundial_plugin_loaded{{kind="authorizer",plugin="allow",sha256="{}"}} 1"#,
        allow.sha256()
    );
    assert!(text.contains(&version), "{text}");
}
