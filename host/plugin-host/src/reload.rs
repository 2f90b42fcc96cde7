//! Hot reload: a plugin slot whose current version can be replaced while calls are in flight.
//! Calls take the version current when they start and finish on it; a replacement that fails
//! to load is refused and the old version keeps serving.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::{Authorizer, Limits, Runtime};

/// The current version of one authorizer plugin.
pub struct AuthorizerSlot {
    name: String,
    current: RwLock<Arc<Authorizer>>,
}

impl AuthorizerSlot {
    pub fn new(name: &str, first: Authorizer) -> AuthorizerSlot {
        AuthorizerSlot {
            name: name.into(),
            current: RwLock::new(Arc::new(first)),
        }
    }

    /// The version new calls use now.
    pub fn current(&self) -> Arc<Authorizer> {
        self.current.read().expect("slot lock").clone()
    }

    /// Loads `wasm` and makes it current; on error the old version stays and the error is
    /// returned (for the log and the metrics).
    pub fn reload(
        &self,
        runtime: &Runtime,
        wasm: &[u8],
        limits: Limits,
        config: HashMap<String, String>,
    ) -> wasmtime::Result<String> {
        let next = runtime.load_authorizer(&self.name, wasm, limits, config)?;
        let version = next.sha256().to_string();
        *self.current.write().expect("slot lock") = Arc::new(next);
        Ok(version)
    }
}
