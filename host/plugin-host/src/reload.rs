//! Hot reload: a plugin slot whose current version can be replaced while calls are in flight.
//! Calls take the version current when they start and finish on it; a replacement that fails
//! to load is refused and the old version keeps serving.

use std::sync::{Arc, RwLock};

use crate::{Authorizer, Runtime, Spec};

/// The current version of one plugin.
pub struct Slot<P> {
    current: RwLock<Arc<P>>,
}

impl<P> Slot<P> {
    pub fn new(first: P) -> Slot<P> {
        Slot {
            current: RwLock::new(Arc::new(first)),
        }
    }

    /// The version new calls use now.
    pub fn current(&self) -> Arc<P> {
        self.current.read().expect("slot lock").clone()
    }

    /// Makes `next` current; calls already running finish on the version they took.
    pub fn replace(&self, next: P) {
        *self.current.write().expect("slot lock") = Arc::new(next);
    }
}

/// An authorizer slot.
pub type AuthorizerSlot = Slot<Authorizer>;

impl Slot<Authorizer> {
    /// Loads `spec` and makes it current; on error the old version stays and the error is
    /// returned (for the log), and the refusal is counted.
    pub fn reload(&self, runtime: &Runtime, spec: &Spec) -> wasmtime::Result<String> {
        match runtime.load_authorizer(spec) {
            Ok(next) => {
                let version = next.sha256().to_string();
                runtime
                    .metrics()
                    .set_loaded(&spec.name, "authorizer", &version);
                runtime.metrics().reloaded(&spec.name, true);
                self.replace(next);
                Ok(version)
            }
            Err(e) => {
                runtime.metrics().reloaded(&spec.name, false);
                Err(e)
            }
        }
    }
}
