//! Config parsing and validation tests.

use super::*;

/// Each YAML text is refused (by parsing or validation) with an error naming the key and
/// containing the words.
fn assert_refused(cases: &[(&str, &str, &str)]) {
    for (yaml, key, words) in cases {
        let err = match Config::parse_yaml(yaml, "t.yaml") {
            Err(e) => e.to_string(),
            Ok(c) => c.validate().unwrap_err().to_string(),
        };
        assert!(err.contains(key), "{yaml}: {err}");
        assert!(err.contains(words), "{yaml}: {err}");
    }
}

#[test]
fn shipped_examples_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let config = Config::parse_yaml(&text, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            config
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 5, "the examples were not found in {dir}");
}

/// Every input of the `config_yaml` fuzz target's corpus (the seeds and the inputs that once
/// crashed it) is read and validated, or refused, without a panic.
#[test]
fn fuzz_corpus_is_read_without_panics() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/engine/corpus/config_yaml"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(config) = Config::parse_yaml(text, "fuzz.yaml")
        {
            let _ = config.validate();
        }
        seen += 1;
    }
    assert!(seen >= 5, "the corpus was not found in {dir}");
}

#[test]
fn log_levels_with_spaces_and_wide_characters_are_checked_without_a_panic() {
    for level in [
        " warn, sundial=debug",
        "  \u{e4}=info, x",
        "info ,  \u{1f600}",
    ] {
        let _ = log_filter(level);
    }
    assert!(log_filter(" warn , sundial_server=debug ").is_ok());
    assert!(
        log_filter("loud").is_ok(),
        "a bare word is a target, as RUST_LOG reads it"
    );
    assert!(log_filter("x=notalevel").is_err());
    assert!(log_filter("sundial[call{namespace=a.*}]=debug").is_err());
}

#[test]
fn unknown_key_is_named() {
    let err = Config::parse_yaml("persistence:\n  urll: x\n", "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("persistence"), "{err}");
    assert!(err.contains("urll"), "{err}");
}

#[test]
fn parses_full_config() {
    let c = Config::parse_yaml(
        "server: {ip: 0.0.0.0, port: 7300}\npersistence: {url: 'postgres://localhost/test', num_history_shards: 8}\nnamespaces: [{name: a, retention: 72h}]\nlog: {level: debug}\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(c.server.port, 7300);
    assert_eq!(
        c.namespaces[0].retention,
        Some(Duration::from_secs(72 * 3600))
    );
    c.validate().unwrap();
}

#[test]
fn bad_values_are_named() {
    let mut c = Config::default();
    c.persistence.url = "redis://x".into();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("persistence.url")
    );
    let err = Config::parse_yaml("namespaces: [{name: a, retention: soon}]", "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("namespaces[0].retention"), "{err}");
}

#[test]
fn cluster_section() {
    let c = Config::parse_yaml("cluster: {node_name: n1, id: prod}", "t.yaml").unwrap();
    c.validate().unwrap();
    assert_eq!(c.node_name(), "n1");
    assert_eq!(c.cluster.id.as_deref(), Some("prod"));
    let c = Config::default();
    assert!(c.node_name().ends_with("-7233"), "{}", c.node_name());
    assert_refused(&[
        (
            "cluster: {node_name: 'a b'}",
            "cluster.node_name",
            "without spaces",
        ),
        ("cluster: {node_name: ''}", "cluster.node_name", "1 to 200"),
        ("cluster: {id: ''}", "cluster.id", "1 to 200"),
        ("cluster: {nodes: 3}", "cluster", "unknown field `nodes`"),
        (
            "persistence: {url: 'postgres://h/db'}\ncluster: {services: [frontend, gateway]}",
            "cluster.services",
            "\"gateway\" is not a service",
        ),
        (
            "persistence: {url: 'postgres://h/db'}\ncluster: {services: []}",
            "cluster.services",
            "at least one",
        ),
        (
            "persistence: {url: 'postgres://h/db'}\ncluster: {services: [history, history]}",
            "cluster.services",
            "named twice",
        ),
        (
            "cluster: {services: [frontend]}",
            "cluster.services",
            "SQLite database serves one node",
        ),
    ]);
    let c = Config::parse_yaml(
        "persistence: {url: 'postgres://h/db'}\ncluster: {services: [history, matching]}",
        "t.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    assert!(c.runs("history") && !c.runs("frontend"));
    assert!(Config::default().runs("frontend"));
}

#[test]
fn history_section() {
    let c = Config::parse_yaml(
        "history: {max_tasks_in_memory: 50, task_lookahead: 5s}",
        "t.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.history.max_tasks_in_memory, 50);
    assert_eq!(c.history.task_lookahead, Duration::from_secs(5));
    assert_eq!(Config::default().history.max_tasks_in_memory, 1000);
    assert_refused(&[
        (
            "history: {max_tasks_in_memory: 0}",
            "history.max_tasks_in_memory",
            "at least 1",
        ),
        (
            "history: {task_lookahead: 0s}",
            "history.task_lookahead",
            "longer than 0s",
        ),
        (
            "history: {task_lookahead: soon}",
            "history.task_lookahead",
            "invalid duration",
        ),
        ("history: {buffer: 3}", "history", "unknown field `buffer`"),
    ]);
}

#[test]
fn plugin_section_errors_name_the_key() {
    let cases = [
        (
            "plugins: [{name: a, kind: authorizer, fil: x.wasm}]",
            "plugins[0]",
            "fil",
        ),
        (
            "plugins: [{name: a, kind: authoriser, file: x.wasm}]",
            "plugins[0].kind",
            "authoriser",
        ),
        (
            "plugins: [{name: a, kind: authorizer}]",
            "plugins[0].file",
            "missing",
        ),
        (
            "plugins: [{name: a, kind: authorizer, builtin: jwt-claim-mapper}]",
            "plugins[0].builtin",
            "claim-mapper",
        ),
        (
            "plugins: [{name: a, kind: authorizer, builtin: nope}]",
            "plugins[0].builtin",
            "nope",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm, limits: {memory: lots}}]",
            "plugins[0].limits.memory",
            "lots",
        ),
        (
            "plugins: [{name: a, kind: archiver, file: a.wasm}]",
            "plugins[0].schemes",
            "at least one URI scheme",
        ),
        (
            "plugins: [{name: a, kind: archiver, file: a.wasm, schemes: ['S3']}]",
            "plugins[0].schemes",
            "not a URI scheme",
        ),
        (
            "plugins: [{name: a, kind: archiver, file: a.wasm, schemes: [s3]}, {name: b, kind: archiver, file: b.wasm, schemes: [gs, s3]}]",
            "plugins[1].schemes",
            "served by plugin \"a\" already",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm, schemes: [s3]}]",
            "plugins[0].schemes",
            "only an archiver",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm, limits: {deadline: 0s}}]",
            "plugins[0].limits.deadline",
            "above zero",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm, grants: {http: ['http://x']}}]",
            "plugins[0].grants.http[0]",
            "not a URL",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm, grants: {directories: [{host: ., guest: keys}]}}]",
            "plugins[0].grants.directories[0].guest",
            "absolute",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm}, {name: a, kind: authorizer, file: b.wasm}]",
            "plugins[1].name",
            "two plugins",
        ),
        (
            "authorization: {authorizer: missing}",
            "authorization.authorizer",
            "no plugin",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm}]\nauthorization: {claim_mapper: a}",
            "authorization.claim_mapper",
            "not a claim-mapper",
        ),
        (
            "authorization: {auth_header: Authorization}",
            "authorization.auth_header",
            "lower-case",
        ),
        ("admin: {listen: nowhere}", "admin.listen", "ip:port"),
        (
            "persistence: {visibility_store: files}",
            "persistence.visibility_store",
            "no plugin",
        ),
        (
            "plugins: [{name: a, kind: authorizer, file: a.wasm}]\npersistence: {visibility_store: a}",
            "persistence.visibility_store",
            "not a visibility-store",
        ),
        (
            "plugins: [{name: v, kind: visibility-store, builtin: nop-authorizer}]",
            "plugins[0].builtin",
            "is a authorizer",
        ),
    ];
    assert_refused(&cases);
    let ok = Config::parse_yaml(
        "plugins: [{name: jwt, kind: claim-mapper, builtin: jwt-claim-mapper, limits: {deadline: 2s, memory: 32MiB, fuel: 1000000}, grants: {http: ['127.0.0.1:8080']}, config: {key-source-uris: 'http://127.0.0.1:8080/jwks'}}, {name: authz, kind: authorizer, builtin: default-authorizer}]\nauthorization: {claim_mapper: jwt, authorizer: authz}\nadmin: {listen: '127.0.0.1:7244'}",
        "t.yaml",
    )
    .unwrap();
    ok.validate().unwrap();
    assert_eq!(ok.plugins[0].memory(), 32 << 20);
    assert_eq!(ok.plugins[0].limits.fuel, Some(1_000_000));
}

#[test]
fn shipped_configs_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let c = Config::from_yaml(&path).unwrap_or_else(|e| panic!("{e}"));
            c.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected the shipped configs in {}",
        dir.display()
    );
}

#[test]
fn tls_section_uses_temporal_spelling() {
    let c = Config::parse_yaml(
        "tls:\n  refreshInterval: 30s\n  frontend:\n    server: {certFile: s.pem, keyFile: s.key, clientCaFiles: [ca.pem], requireClientAuth: true}\n    client: {serverName: localhost, rootCaFiles: [ca.pem]}\n  internode:\n    server: {certData: YQ==, keyData: YQ==}\n    client: {forceTLS: true, disableHostVerification: true}\n",
        "t.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    assert!(c.tls.frontend.server.enabled());
    assert!(c.tls.frontend.server.require_client_auth);
    assert!(c.tls.frontend.client.enabled());
    assert!(c.tls.internode.client.force_tls);
    assert_eq!(c.tls.refresh_interval, Some(Duration::from_secs(30)));
    assert!(!Config::default().tls.frontend.server.enabled());
}

#[test]
fn tls_errors_name_the_key() {
    let cases = [
        (
            "tls: {frontend: {server: {clientCAFiles: [a]}}}",
            "tls.frontend.server",
            "clientCAFiles",
        ),
        (
            "tls: {frontend: {server: {certFile: a, certData: YQ==, keyFile: k}}}",
            "tls.frontend.server",
            "certFile and certData",
        ),
        (
            "tls: {internode: {server: {certFile: a, keyFile: k, keyData: YQ==}}}",
            "tls.internode.server",
            "keyFile and keyData",
        ),
        (
            "tls: {frontend: {server: {certFile: a, keyFile: k, clientCaFiles: [a], clientCaData: [YQ==]}}}",
            "tls.frontend.server",
            "clientCaFiles and clientCaData",
        ),
        (
            "tls: {frontend: {client: {rootCaFiles: [a], rootCaData: [YQ==]}}}",
            "tls.frontend.client",
            "rootCaFiles and rootCaData",
        ),
        (
            "tls: {frontend: {server: {certFile: a, keyFile: k, clientCaFiles: [' ']}}}",
            "tls.frontend.server.clientCaFiles[0]",
            "empty",
        ),
        (
            "tls: {internode: {client: {rootCaData: ['']}}}",
            "tls.internode.client.rootCaData[0]",
            "empty",
        ),
        (
            "tls: {frontend: {server: {certFile: a}}}",
            "tls.frontend.server",
            "no key",
        ),
        (
            "tls: {frontend: {server: {keyFile: k}}}",
            "tls.frontend.server",
            "no certificate",
        ),
        (
            "tls: {frontend: {server: {requireClientAuth: true}}}",
            "tls.frontend.server.requireClientAuth",
            "needs server TLS",
        ),
        (
            "tls: {frontend: {server: {certFile: a, keyFile: k, requireClientAuth: true}}}",
            "tls.frontend.server.requireClientAuth",
            "clientCaFiles",
        ),
        (
            "tls: {frontend: {server: {certData: '!!', keyFile: k}}}",
            "tls.frontend.server.certData",
            "base64",
        ),
        (
            "tls: {frontend: {client: {forceTls: true}}}",
            "tls.frontend.client",
            "forceTls",
        ),
        (
            "tls: {frontend: {hostOverrides: {}}}",
            "tls.frontend",
            "hostOverrides",
        ),
        (
            "tls: {refreshInterval: often}",
            "tls.refreshInterval",
            "often",
        ),
    ];
    assert_refused(&cases);
}

#[test]
fn archival_sections_use_temporals_keys() {
    let c = Config::parse_yaml(
        r#"
archival:
  history:
    state: Enabled
    enableRead: true
    provider:
      filestore: {fileMode: "0640", dirMode: "0750"}
  visibility:
    state: paused
namespaceDefaults:
  archival:
    history: {state: enabled, URI: "file:///var/archive/h"}
"#,
        "t.yaml",
    )
    .unwrap();
    let s = c.archival_settings().unwrap();
    assert!(s.history.enabled && s.history.read && s.history.default_enabled);
    assert_eq!(s.history.default_uri, "file:///var/archive/h");
    assert!(!s.visibility.enabled, "paused behaves as disabled");
    assert_eq!(s.provider.schemes(), ["file"]);
    // Nothing configured: nothing archived.
    let s = Config::default().archival_settings().unwrap();
    assert!(!s.history.enabled && !s.visibility.enabled);
}

#[test]
fn archival_errors_name_the_key() {
    let on = "archival: {history: {state: enabled}}\n";
    assert_refused(&[
        (
            "archival: {history: {state: on}}\n",
            "archival.history.state",
            "use enabled, disabled or paused",
        ),
        (on, "namespaceDefaults.archival.history.URI", "must be set"),
        (
            &format!("{on}namespaceDefaults: {{archival: {{history: {{URI: 'gs://b/p'}}}}}}\n"),
            "namespaceDefaults.archival.history.URI",
            "no archiver serves the scheme \"gs\"",
        ),
        (
            &format!("{on}namespaceDefaults: {{archival: {{history: {{URI: 'nope'}}}}}}\n"),
            "namespaceDefaults.archival.history.URI",
            "invalid archival URI",
        ),
        (
            "archival: {visibility: {enableRead: true}}\n",
            "archival.visibility.enableRead",
            "needs archival.visibility.state: enabled",
        ),
        (
            "namespaceDefaults: {archival: {visibility: {state: enabled}}}\n",
            "namespaceDefaults.archival.visibility.state",
            "needs archival.visibility.state: enabled",
        ),
        (
            "namespaceDefaults: {archival: {history: {state: maybe}}}\n",
            "namespaceDefaults.archival.history.state",
            "use enabled or disabled",
        ),
        (
            "archival: {history: {state: enabled, provider: {filestore: {fileMode: '0999'}}}}\nnamespaceDefaults: {archival: {history: {URI: 'file:///a'}}}\n",
            "archival.history.provider.filestore.fileMode",
            "octal",
        ),
        (
            "archival: {history: {provider: {s3store: {region: x}}}}\n",
            "s3store",
            "unknown field",
        ),
        (
            "namespaceDefaults: {archival: {history: {uri: 'file:///a'}}}\n",
            "uri",
            "unknown field",
        ),
    ]);
}

#[test]
fn archivers_serve_schemes_with_roomier_default_limits() {
    let c = Config::parse_yaml(
        r#"
plugins:
  - {name: vault, kind: archiver, file: v.wasm, schemes: [vault, blob+v1]}
  - {name: slow, kind: archiver, file: s.wasm, schemes: [slow], limits: {deadline: 2m}}
  - {name: authz, kind: authorizer, builtin: nop-authorizer}
archival:
  history: {state: enabled}
namespaceDefaults:
  archival:
    history: {state: disabled, URI: "vault://bucket/h"}
"#,
        "t.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(
        c.archiver_schemes(),
        [("vault", "vault"), ("blob+v1", "vault"), ("slow", "slow")]
    );
    let [vault, slow, authz] = &c.plugins[..] else {
        panic!("three plugins")
    };
    assert_eq!(
        (vault.deadline(), vault.memory()),
        (Duration::from_secs(30), 64 << 20)
    );
    assert_eq!(slow.deadline(), Duration::from_secs(120));
    assert_eq!(
        (authz.deadline(), authz.memory()),
        (Duration::from_millis(100), 16 << 20)
    );
    // A default URI of a scheme nobody serves is refused, naming the schemes there are.
    let c = Config::parse_yaml(
        "archival:\n  history: {state: enabled}\nnamespaceDefaults:\n  archival:\n    history: {URI: \"s3://b/h\"}\n",
        "t.yaml",
    )
    .unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("namespaceDefaults.archival.history.URI") && e.contains("use file"),
        "{e}"
    );
}

#[test]
fn global_metrics_section() {
    let c = Config::parse_yaml(
        "global: {metrics: {prometheus: {listenAddress: '127.0.0.1:9090', framework: tally}}}",
        "t.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    let p = &c.global.metrics.prometheus;
    assert_eq!(p.listen_address.as_deref(), Some("127.0.0.1:9090"));
    assert_eq!(p.handler_path, "/metrics");
    assert_eq!(
        Config::default().global.metrics.prometheus.listen_address,
        None
    );
    assert_refused(&[
        (
            "global: {metrics: {prometheus: {listenAddress: nine}}}",
            "global.metrics.prometheus.listenAddress",
            "not an ip:port",
        ),
        (
            "global: {metrics: {prometheus: {handlerPath: metrics}}}",
            "global.metrics.prometheus.handlerPath",
            "must start with /",
        ),
        (
            "global: {metrics: {prometheus: {framework: opentelemetry}}}",
            "global.metrics.prometheus.framework",
            "tally",
        ),
        (
            "global: {metrics: {prometheus: {listenAdress: ':9090'}}}",
            "global.metrics.prometheus",
            "unknown field `listenAdress`",
        ),
    ]);
}

#[test]
fn log_format() {
    let c = Config::parse_yaml("log: {format: json}", "t.yaml").unwrap();
    c.validate().unwrap();
    assert_eq!(c.log.format, "json");
    assert_eq!(Config::default().log.format, "text");
    assert_refused(&[("log: {format: yaml}", "log.format", "use text or json")]);
}

#[test]
fn http_and_ui_ports_are_read() {
    let c = Config::parse_yaml(
        "server: {port: 7233, http_port: 7243, ui_port: 8233}",
        "t.yaml",
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.server.http_port, Some(7243));
    assert_eq!(c.server.ui_port, Some(8233));
    assert_eq!(Config::default().server.http_port, None, "off unless set");
    assert_eq!(Config::default().server.ui_port, None, "off unless set");
    let c = Config::parse_yaml(
        "server: {http_additional_forwarded_headers: [x-tenant, 'x-trace-*']}",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(
        c.server.http_additional_forwarded_headers,
        ["x-tenant", "x-trace-*"]
    );
}
