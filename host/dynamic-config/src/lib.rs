//! Temporal's dynamic config, as Sundial reads it while it runs.
//!
//! A key holds values, each under a set of constraints (`namespace`, `taskQueueName`,
//! `taskType`); a lookup names where it is made and takes the value whose constraints are
//! the most specific match, trying {namespace, task queue, task type}, {namespace, task queue},
//! {task queue}, {namespace} and {} in that order, as Temporal does. Values come from
//! Temporal's YAML file (`key: [{value, constraints}]`, keys case-insensitive) and from
//! `--dynamic-config-value KEY=VALUE` flags, which come first. The keys Sundial uses are
//! listed in [`keys`] with their kind: a value of the wrong kind is refused, naming the key;
//! other keys are kept aside so the server can say it ignores them.

pub mod keys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use keys::{Kind, Setting};
use serde_norway::Value;

/// Where a lookup is made; empty fields are not given.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub namespace: &'a str,
    pub task_queue: &'a str,
    /// `Workflow` or `Activity`.
    pub task_type: &'a str,
}

impl<'a> Scope<'a> {
    pub fn namespace(namespace: &'a str) -> Scope<'a> {
        Scope {
            namespace,
            ..Default::default()
        }
    }
}

/// The constraints of one value: each `None` when not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Constraints {
    namespace: Option<String>,
    task_queue: Option<String>,
    task_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    constraints: Constraints,
    value: Value,
}

/// A bad value or file, naming the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key '{}': {}", self.key, self.message)
    }
}

impl std::error::Error for Error {}

fn error(key: &str, message: impl Into<String>) -> Error {
    Error {
        key: key.to_string(),
        message: message.into(),
    }
}

/// One set of values: what a file and the flags say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values {
    /// By the key as [`keys`] spells it, so a lookup neither folds case nor allocates.
    entries: HashMap<&'static str, Vec<Entry>>,
    /// Keys given that Sundial does not use, as given.
    pub ignored: Vec<String>,
}

impl Values {
    /// Temporal's YAML file.
    pub fn from_yaml(text: &str) -> Result<Values, Error> {
        let mut values = Values::default();
        let doc: Value = serde_norway::from_str(text).map_err(|e| error("", e.to_string()))?;
        let map = match doc {
            Value::Null => return Ok(values),
            Value::Mapping(m) => m,
            _ => return Err(error("", "the file must map keys to lists of values")),
        };
        for (key, list) in map {
            let key = key
                .as_str()
                .ok_or_else(|| error("", "a key is not a string"))?
                .to_string();
            let Value::Sequence(list) = list else {
                return Err(error(&key, "give a list of {value, constraints}"));
            };
            for item in list {
                let Value::Mapping(item) = item else {
                    return Err(error(&key, "each item is {value, constraints}"));
                };
                let mut value = None;
                let mut constraints = Constraints::default();
                for (field, v) in item {
                    match field.as_str() {
                        Some("value") => value = Some(v),
                        Some("constraints") => constraints = parse_constraints(&key, v)?,
                        other => {
                            return Err(error(
                                &key,
                                format!("unknown field {:?} (value, constraints)", other),
                            ));
                        }
                    }
                }
                let value = value.ok_or_else(|| error(&key, "an item has no value"))?;
                values.add(&key, constraints, value)?;
            }
        }
        Ok(values)
    }

    /// A `KEY=VALUE` flag (the value in YAML or JSON), with no constraints; it goes before
    /// what was there, so it wins over a file's unconstrained value.
    pub fn add_flag(&mut self, pair: &str) -> Result<(), Error> {
        let (key, text) = pair.split_once('=').ok_or_else(|| {
            error(
                "--dynamic-config-value",
                format!("{pair:?}: give KEY=VALUE"),
            )
        })?;
        let key = key.trim();
        let value: Value = serde_norway::from_str(text)
            .map_err(|e| error(key, format!("{text:?} is not a YAML or JSON value: {e}")))?;
        self.add(key, Constraints::default(), value)?;
        // Flags come first.
        if let Some(list) = keys::canonical(key).and_then(|k| self.entries.get_mut(k)) {
            let flag = list.pop().expect("just added");
            list.insert(0, flag);
        }
        Ok(())
    }

    /// The flags' values, then `other`'s.
    pub fn then(mut self, other: Values) -> Values {
        for (key, list) in other.entries {
            self.entries.entry(key).or_default().extend(list);
        }
        for key in other.ignored {
            if !self.ignored.contains(&key) {
                self.ignored.push(key);
            }
        }
        self
    }

    fn add(&mut self, key: &str, constraints: Constraints, value: Value) -> Result<(), Error> {
        let Some(setting) = keys::setting_of(key) else {
            if !self.ignored.iter().any(|k| k == key) {
                self.ignored.push(key.to_string());
            }
            return Ok(());
        };
        setting.kind.check(key, &value)?;
        self.entries
            .entry(setting.key)
            .or_default()
            .push(Entry { constraints, value });
        Ok(())
    }

    /// The value of `key` that applies at `scope`, if any is given.
    fn lookup<'s>(&self, key: &str, scope: Scope<'s>) -> Option<&Value> {
        fn given(s: &str) -> Option<&str> {
            (!s.is_empty()).then_some(s)
        }
        if self.entries.is_empty() {
            return None;
        }
        let list = self.entries.get(key)?;
        let (ns, tq, tt) = (
            given(scope.namespace),
            given(scope.task_queue),
            given(scope.task_type),
        );
        let tries = [
            (ns, tq, tt),
            (ns, tq, None),
            (None, tq, None),
            (ns, None, None),
            (None, None, None),
        ];
        tries
            .into_iter()
            .find_map(|(namespace, task_queue, task_type)| {
                list.iter()
                    .find(|e| {
                        let c = &e.constraints;
                        (
                            c.namespace.as_deref(),
                            c.task_queue.as_deref(),
                            c.task_type.as_deref(),
                        ) == (namespace, task_queue, task_type)
                    })
                    .map(|e| &e.value)
            })
    }
}

fn parse_constraints(key: &str, v: Value) -> Result<Constraints, Error> {
    let Value::Mapping(map) = v else {
        return Err(error(key, "constraints are a mapping"));
    };
    let mut c = Constraints::default();
    for (name, value) in map {
        let text = match &value {
            Value::String(s) => s.clone(),
            other => {
                return Err(error(
                    key,
                    format!("constraint value {other:?} is not a string"),
                ));
            }
        };
        match name.as_str() {
            Some("namespace") => c.namespace = Some(text),
            Some("taskQueueName") => c.task_queue = Some(text),
            Some("taskType") => match text.as_str() {
                "Workflow" | "Activity" => c.task_type = Some(text),
                _ => {
                    return Err(error(
                        key,
                        format!("taskType {text:?}: Workflow or Activity"),
                    ));
                }
            },
            other => {
                return Err(error(
                    key,
                    format!(
                        "constraint {:?} is not one Sundial uses (namespace, taskQueueName, taskType)",
                        other
                    ),
                ));
            }
        }
    }
    Ok(c)
}

/// The live values: read at every lookup, replaced whole when the file changes.
#[derive(Debug, Default)]
pub struct DynamicConfig {
    values: RwLock<Arc<Values>>,
    /// Counts the replacements, so readers can keep what they derive until it changes.
    generation: AtomicU64,
}

impl DynamicConfig {
    pub fn new(values: Values) -> DynamicConfig {
        DynamicConfig {
            values: RwLock::new(Arc::new(values)),
            generation: AtomicU64::new(0),
        }
    }

    pub fn set(&self, values: Values) {
        *self.values.write().unwrap() = Arc::new(values);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever the values are replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn values(&self) -> Arc<Values> {
        self.values.read().unwrap().clone()
    }

    fn value<T>(&self, s: &Setting, scope: Scope, read: impl Fn(&Value) -> Option<T>) -> Option<T> {
        self.values().lookup(s.key, scope).and_then(read)
    }

    pub fn bool(&self, s: &Setting, scope: Scope) -> Option<bool> {
        self.value(s, scope, Value::as_bool)
    }

    pub fn int(&self, s: &Setting, scope: Scope) -> Option<i64> {
        self.value(s, scope, Value::as_i64)
    }

    pub fn number(&self, s: &Setting, scope: Scope) -> Option<f64> {
        self.value(s, scope, Value::as_f64)
    }

    pub fn duration(&self, s: &Setting, scope: Scope) -> Option<Duration> {
        self.value(s, scope, |v| keys::duration(v).ok())
    }

    pub fn strings(&self, s: &Setting, scope: Scope) -> Option<Vec<String>> {
        self.value(s, scope, |v| {
            v.as_sequence()?
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests;
