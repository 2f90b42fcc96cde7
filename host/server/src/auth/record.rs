//! The decision record (`authorization.record_decisions`): every authorizer decision as one
//! JSON line in the case format of `sundial-plugin-test`, with when it was made and for whom
//! (`recorded`), rotated by size so it never fills the disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sundial_plugin_host::{CallTarget, Claims};

use crate::config::AuthorizationConfig;

/// An open record and its rotation settings. A reload that changes any of them opens a new
/// one (the file appended to, never truncated).
pub struct DecisionRecord {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    open: Mutex<Open>,
}

struct Open {
    file: File,
    written: u64,
}

fn append_to(path: &Path) -> std::io::Result<Open> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let written = file.metadata()?.len();
    Ok(Open { file, written })
}

/// `<path>.<n>`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl DecisionRecord {
    /// Opens the record the settings name (`record_decisions` already resolved against the
    /// config file's directory), if any.
    pub fn open(settings: &AuthorizationConfig) -> std::io::Result<Option<DecisionRecord>> {
        let Some(path) = &settings.record_decisions else {
            return Ok(None);
        };
        Ok(Some(DecisionRecord {
            path: path.clone(),
            max_bytes: settings.record_decisions_max_size as u64,
            keep: settings.record_decisions_keep,
            open: Mutex::new(append_to(path)?),
        }))
    }

    /// Whether this record is the one `settings` asks for.
    pub fn serves(&self, settings: &AuthorizationConfig) -> bool {
        settings.record_decisions.as_deref() == Some(self.path.as_path())
            && settings.record_decisions_max_size as u64 == self.max_bytes
            && settings.record_decisions_keep == self.keep
    }

    /// Appends one decision.
    pub(super) fn append(&self, decision: &Recorded<'_>) {
        let mut line = decision.line().to_string();
        line.push('\n');
        let mut open = self.open.lock().expect("decision record");
        if open.written > 0 && open.written + line.len() as u64 > self.max_bytes {
            match self.rotate() {
                Ok(next) => *open = next,
                Err(e) => tracing::warn!(error = %e, path = %self.path.display(),
                    "cannot rotate the decision record; appending to the full one"),
            }
        }
        match open.file.write_all(line.as_bytes()) {
            Ok(()) => open.written += line.len() as u64,
            Err(e) => tracing::warn!(error = %e, "cannot record an authorization decision"),
        }
    }

    /// Shifts the full files up by one (dropping the oldest) and starts the record afresh.
    fn rotate(&self) -> std::io::Result<Open> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        append_to(&self.path)
    }
}

/// One decision, as recorded.
pub(super) struct Recorded<'a> {
    pub claims: Option<&'a Claims>,
    pub target: &'a CallTarget,
    pub allowed: bool,
    pub reason: Option<&'a str>,
    /// The caller's address.
    pub peer: Option<SocketAddr>,
}

impl Recorded<'_> {
    fn line(&self) -> serde_json::Value {
        use base64::Engine as _;
        let Recorded {
            claims,
            target,
            allowed,
            reason,
            peer,
        } = self;
        let claims = claims.map(|c| {
            serde_json::json!({
                "subject": c.subject,
                "system": c.system,
                "namespaces": c.namespaces.iter()
                    .map(|n| serde_json::json!({"namespace": n.namespace, "role": n.role}))
                    .collect::<Vec<_>>(),
                "auth-type": c.auth_type,
                "extensions": c.extensions,
                "expires-at": c.expires_at,
            })
        });
        serde_json::json!({
            "name": format!("recorded {} on {:?}", target.api_name, target.namespace),
            "claims": claims,
            "target": {
                "api-name": target.api_name,
                "namespace": target.namespace,
                "request-type": target.request_type,
                "request-base64": base64::engine::general_purpose::STANDARD.encode(&target.request),
            },
            "expect": if *allowed { "allow" } else { "deny" },
            "reason": reason,
            "recorded": {
                "at": prost_types::Timestamp::from(SystemTime::now()).to_string(),
                "peer": peer.map(|p| p.to_string()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(path: &Path, max: usize, keep: usize) -> AuthorizationConfig {
        AuthorizationConfig {
            record_decisions: Some(path.to_path_buf()),
            record_decisions_max_size: max,
            record_decisions_keep: keep,
            ..Default::default()
        }
    }

    fn decision(target: &CallTarget) -> Recorded<'_> {
        Recorded {
            claims: None,
            target,
            allowed: true,
            reason: None,
            peer: Some("127.0.0.1:4000".parse().unwrap()),
        }
    }

    #[test]
    fn full_records_are_kept_up_to_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let record = DecisionRecord::open(&settings(&path, 1024, 2))
            .unwrap()
            .unwrap();
        let target = CallTarget {
            api_name: "/x/Y".into(),
            namespace: "n".into(),
            request_type: "T".into(),
            request: vec![7; 100],
        };
        for _ in 0..40 {
            record.append(&decision(&target));
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]);
        for name in names {
            let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
            assert!(
                !text.is_empty() && text.len() <= 1024,
                "{name}: {}",
                text.len()
            );
            for line in text.lines() {
                let case: sundial_plugin_harness::Case = serde_json::from_str(line).unwrap();
                assert_eq!(case.target.namespace, "n");
            }
        }
        assert!(record.serves(&settings(&path, 1024, 2)));
        assert!(!record.serves(&settings(&path, 1024, 3)));
    }
}
