//! Test a Sundial plugin component without a server.
//!
//! Load a built `.wasm` the way the server does (same host, same limits machinery) and ask
//! it questions: from Rust tests through [`Harness`], or from a file of cases — written by
//! hand or recorded by a running server (`authorization.record_decisions`) — with
//! [`Harness::check`] or the `sundial-plugin-test` command.
//!
//! A case file is a JSON array (or JSON lines) of:
//!
//! ```json
//! {"name": "reader may describe", "config": {"namespaces": "orders"},
//!  "claims": {"subject": "alice", "system": 0, "namespaces": [{"namespace": "orders", "role": 2}],
//!             "auth-type": "jwt", "extensions": null, "expires-at": null},
//!  "target": {"api-name": "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace",
//!             "namespace": "orders",
//!             "request-type": "temporal.api.workflowservice.v1.DescribeNamespaceRequest",
//!             "request": [], "request-base64": null},
//!  "expect": "allow", "reason": null}
//! ```
//!
//! `claims` null means the caller presented nothing. `reason` null is not checked; a string
//! must equal the deny reason (placeholders `{name}` are filled from [`Harness::check`]'s
//! `vars`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
pub use sundial_plugin_host::{
    AuthInfo, Authorization, Authorizer, CallTarget, ClaimMapper, Claims, Decision, Fault, Grants,
    Limits, NamespaceRole, Principal, Runtime, Spec,
};

/// Loads components with generous limits (a test machine may be slow; limits themselves are
/// the server's business).
pub struct Harness {
    runtime: Runtime,
    limits: Limits,
    grants: Grants,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            runtime: Runtime::new().expect("wasmtime runtime"),
            limits: Limits {
                deadline: Duration::from_secs(30),
                memory_bytes: 256 << 20,
                fuel: None,
            },
            grants: Grants::default(),
        }
    }

    /// Limits for every component loaded afterwards (e.g. to check a plugin fits the limits
    /// it will get in production).
    pub fn limits(mut self, limits: Limits) -> Harness {
        self.limits = limits;
        self
    }

    /// Grants for every component loaded afterwards (HTTP destinations, directories).
    pub fn grants(mut self, grants: Grants) -> Harness {
        self.grants = grants;
        self
    }

    fn spec(&self, wasm: &Path, config: &BTreeMap<String, String>) -> anyhow::Result<Spec> {
        let bytes =
            std::fs::read(wasm).map_err(|e| anyhow::anyhow!("reading {}: {e}", wasm.display()))?;
        Ok(Spec {
            name: wasm
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plugin".into()),
            wasm: bytes.into(),
            limits: self.limits.clone(),
            grants: self.grants.clone(),
            config: config.clone().into_iter().collect(),
        })
    }

    /// An authorizer component with these config values.
    pub fn authorizer(
        &self,
        wasm: impl AsRef<Path>,
        config: &BTreeMap<String, String>,
    ) -> anyhow::Result<Authorizer> {
        let spec = self.spec(wasm.as_ref(), config)?;
        self.runtime.load_authorizer(&spec).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a loadable authorizer: {e:#}",
                wasm.as_ref().display()
            )
        })
    }

    /// A claim-mapper component with these config values.
    pub fn claim_mapper(
        &self,
        wasm: impl AsRef<Path>,
        config: &BTreeMap<String, String>,
    ) -> anyhow::Result<ClaimMapper> {
        let spec = self.spec(wasm.as_ref(), config)?;
        self.runtime.load_claim_mapper(&spec).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a loadable claim mapper: {e:#}",
                wasm.as_ref().display()
            )
        })
    }

    /// Runs every case against the authorizer in `wasm` (loaded once per distinct config);
    /// returns the cases whose answer differs from the expected one.
    pub async fn check(
        &self,
        wasm: impl AsRef<Path>,
        cases: &[Case],
        vars: &[(&str, &str)],
    ) -> anyhow::Result<Vec<Mismatch>> {
        let mut loaded: HashMap<String, Authorizer> = HashMap::new();
        let mut mismatches = Vec::new();
        for case in cases {
            let key = serde_json::to_string(&case.config)?;
            if !loaded.contains_key(&key) {
                loaded.insert(key.clone(), self.authorizer(wasm.as_ref(), &case.config)?);
            }
            let plugin = &loaded[&key];
            let claims = case.claims.clone().map(Claims::from);
            let target = case.target.to_call_target()?;
            let got = plugin.authorize(claims.as_ref(), &target).await;
            let want_reason = case.reason.as_ref().map(|r| fill(r, vars));
            let problem = match (&got, case.expect) {
                (Err(fault), _) => Some(format!("no decision: {fault}")),
                (Ok(a), want) if Expect::of(a.decision) != want => Some(format!(
                    "expected {want:?}, got {:?} (reason {:?})",
                    Expect::of(a.decision),
                    a.reason
                )),
                (Ok(a), Expect::Deny) => match &want_reason {
                    Some(r) if a.reason.as_deref() != Some(r.as_str()) => {
                        Some(format!("reason {:?}, expected {r:?}", a.reason))
                    }
                    _ => None,
                },
                (Ok(_), Expect::Allow) => None,
            };
            if let Some(problem) = problem {
                mismatches.push(Mismatch {
                    case: case.name.clone(),
                    problem,
                });
            }
        }
        Ok(mismatches)
    }
}

fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

/// A case whose answer was not the expected one.
#[derive(Debug)]
pub struct Mismatch {
    pub case: String,
    pub problem: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.case, self.problem)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Allow,
    Deny,
}

impl Expect {
    pub fn of(d: Decision) -> Expect {
        match d {
            Decision::Allow => Expect::Allow,
            Decision::Deny => Expect::Deny,
        }
    }
}

/// One question and its expected answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub claims: Option<ClaimsRecord>,
    pub target: TargetRecord,
    pub expect: Expect,
    #[serde(default)]
    pub reason: Option<String>,
    /// When and for whom a server recorded the case (`authorization.record_decisions`);
    /// not part of the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<RecordedAt>,
}

/// `recorded` in a case a server wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedAt {
    /// The decision's time (RFC 3339, UTC).
    pub at: String,
    /// The caller's address, when known.
    #[serde(default)]
    pub peer: Option<String>,
}

/// `claims` in a case file (the WIT record, kebab-case keys).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClaimsRecord {
    pub subject: String,
    pub system: u8,
    pub namespaces: Vec<RoleRecord>,
    pub auth_type: String,
    #[serde(default)]
    pub extensions: Option<Vec<u8>>,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    pub namespace: String,
    pub role: u8,
}

impl From<ClaimsRecord> for Claims {
    fn from(c: ClaimsRecord) -> Claims {
        Claims {
            subject: c.subject,
            system: c.system,
            namespaces: c
                .namespaces
                .into_iter()
                .map(|r| NamespaceRole {
                    namespace: r.namespace,
                    role: r.role,
                })
                .collect(),
            auth_type: c.auth_type,
            extensions: c.extensions,
            expires_at: c.expires_at,
        }
    }
}

impl From<&Claims> for ClaimsRecord {
    fn from(c: &Claims) -> ClaimsRecord {
        ClaimsRecord {
            subject: c.subject.clone(),
            system: c.system,
            namespaces: c
                .namespaces
                .iter()
                .map(|r| RoleRecord {
                    namespace: r.namespace.clone(),
                    role: r.role,
                })
                .collect(),
            auth_type: c.auth_type.clone(),
            extensions: c.extensions.clone(),
            expires_at: c.expires_at,
        }
    }
}

/// `target` in a case file. The request is given as bytes (`request`) or base64
/// (`request-base64`, what a recording server writes).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TargetRecord {
    pub api_name: String,
    pub namespace: String,
    pub request_type: String,
    #[serde(default)]
    pub request: Vec<u8>,
    #[serde(default)]
    pub request_base64: Option<String>,
}

impl TargetRecord {
    pub fn to_call_target(&self) -> anyhow::Result<CallTarget> {
        let request = match &self.request_base64 {
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| anyhow::anyhow!("request-base64: {e}"))?,
            None => self.request.clone(),
        };
        Ok(CallTarget {
            api_name: self.api_name.clone(),
            namespace: self.namespace.clone(),
            request_type: self.request_type.clone(),
            request,
        })
    }

    pub fn of(target: &CallTarget) -> TargetRecord {
        TargetRecord {
            api_name: target.api_name.clone(),
            namespace: target.namespace.clone(),
            request_type: target.request_type.clone(),
            request: Vec::new(),
            request_base64: Some(base64::engine::general_purpose::STANDARD.encode(&target.request)),
        }
    }
}

/// Reads a case file: a JSON array, or one case per line (what a recording server writes).
pub fn load_cases(path: impl AsRef<Path>) -> anyhow::Result<Vec<Case>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// A call target for `method` of WorkflowService with `request` encoded as the server would
/// hand it to an authorizer.
pub fn workflow_service_target<M: prost::Message + prost::Name>(
    method: &str,
    namespace: &str,
    request: &M,
) -> CallTarget {
    CallTarget {
        api_name: format!("/temporal.api.workflowservice.v1.WorkflowService/{method}"),
        namespace: namespace.into(),
        request_type: M::full_name(),
        request: request.encode_to_vec(),
    }
}

/// Claims with these per-namespace roles.
pub fn claims(subject: &str, system: u8, namespaces: &[(&str, u8)]) -> Claims {
    Claims {
        subject: subject.into(),
        system,
        namespaces: namespaces
            .iter()
            .map(|(n, r)| NamespaceRole {
                namespace: (*n).into(),
                role: *r,
            })
            .collect(),
        auth_type: "test".into(),
        extensions: None,
        expires_at: None,
    }
}
