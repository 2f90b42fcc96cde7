//! The harness against real components: the default authorizer through the Rust API, and the
//! Python and JavaScript example authorizers against their shared case file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sundial_plugin_harness::{Decision, Harness, claims, load_cases, workflow_service_target};
use temporalio_protos::temporal::api::workflowservice::v1::{
    ListNamespacesRequest, StartWorkflowExecutionRequest,
};

fn built(name: &str) -> PathBuf {
    Path::new(sundial_builtin_plugins::BUILT_DIR).join(format!("{name}.wasm"))
}

#[tokio::test]
async fn default_authorizer_through_the_rust_api() {
    let harness = Harness::new();
    let plugin = harness
        .authorizer(built("default_authorizer"), &BTreeMap::new())
        .unwrap();
    let start = StartWorkflowExecutionRequest {
        namespace: "orders".into(),
        ..Default::default()
    };
    let target = workflow_service_target("StartWorkflowExecution", "orders", &start);
    for (who, role, want) in [
        ("writer", 4, Decision::Allow),
        ("reader", 2, Decision::Deny),
        ("worker", 1, Decision::Deny),
        ("admin", 8, Decision::Allow),
    ] {
        let c = claims(who, 0, &[("orders", role)]);
        let got = plugin.authorize(Some(&c), &target).await.unwrap();
        assert_eq!(got.decision, want, "{who}");
    }
    let list = workflow_service_target("ListNamespaces", "", &ListNamespacesRequest::default());
    let ns_admin = claims("ns-admin", 0, &[("orders", 8)]);
    assert_eq!(
        plugin
            .authorize(Some(&ns_admin), &list)
            .await
            .unwrap()
            .decision,
        Decision::Deny,
        "listing namespaces is cluster-wide"
    );
    let system_reader = claims("ops", 2, &[]);
    assert_eq!(
        plugin
            .authorize(Some(&system_reader), &list)
            .await
            .unwrap()
            .decision,
        Decision::Allow
    );
}

/// The examples' case file passes for each language; a wrong expectation is reported.
#[tokio::test]
async fn example_authorizers_pass_their_case_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cases = load_cases(root.join("plugins/examples/cases.json")).unwrap();
    assert!(cases.len() >= 10);
    let examples = root.join("plugins/target/examples");
    let harness = Harness::new();
    for (file, lang) in [
        ("python_authorizer.wasm", "python"),
        ("js_authorizer.wasm", "javascript"),
    ] {
        let wasm = examples.join(file);
        assert!(
            wasm.exists(),
            "{} missing: run plugins/examples/build.sh (./test.sh does)",
            wasm.display()
        );
        let mismatches = harness
            .check(&wasm, &cases, &[("lang", lang)])
            .await
            .unwrap();
        assert!(mismatches.is_empty(), "{lang}: {mismatches:#?}");
        // The same cases with the other language's reasons must not pass.
        let other = if lang == "python" {
            "javascript"
        } else {
            "python"
        };
        let wrong = harness
            .check(&wasm, &cases, &[("lang", other)])
            .await
            .unwrap();
        assert!(!wrong.is_empty(), "{lang}: reasons are really compared");
    }
}
