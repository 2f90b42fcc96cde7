//! The wasmtime host for Sundial's plugin components (WIT package `sundial:plugin`, see
//! `wit/`). A component is compiled once; each call gets a fresh instance from an
//! `InstancePre` in its own store, with a deadline (epoch interruption) and a memory cap.
//! Components see only clocks and random numbers from WASI: no files, no network, no
//! environment. A trap, a missed deadline or a memory blow-up is a [`Fault`], never a panic
//! or a hang of the server; callers treat a fault as deny.
//!
//! The `authorizer` and `claim-mapper` worlds are wired so far.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod reload;

pub use reload::AuthorizerSlot;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "authorizer",
        exports: { default: async },
    });
}

/// The claim-mapper world, sharing the `types` and `host` bindings of the authorizer's.
mod mapper_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "claim-mapper",
        exports: { default: async },
        with: {
            "sundial:plugin/types": crate::bindings::sundial::plugin::types,
            "sundial:plugin/host": crate::bindings::sundial::plugin::host,
        },
    });
}

pub use bindings::sundial::plugin::types::{
    AuthInfo, Authorization, CallTarget, Claims, Decision, NamespaceRole, Principal, TlsSubject,
};

/// How often the epoch advances: the granularity of call deadlines.
const TICK: Duration = Duration::from_millis(5);

/// Longest deny reason passed on from a plugin; longer ones are cut.
pub const MAX_REASON_BYTES: usize = 1024;

/// Per-call limits of a plugin.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock budget of one call (rounded up to the epoch tick).
    pub deadline: Duration,
    /// Largest linear memory (and tables) the instance may grow to, in bytes.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            memory_bytes: 16 << 20,
        }
    }
}

/// Why a call produced no decision. Callers deny.
#[derive(Debug)]
pub struct Fault(pub String);

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    config: Arc<HashMap<String, String>>,
    plugin: Arc<str>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::sundial::plugin::types::Host for State {}

impl bindings::sundial::plugin::host::Host for State {
    fn log(&mut self, level: bindings::sundial::plugin::host::LogLevel, message: String) {
        use bindings::sundial::plugin::host::LogLevel as L;
        let message = cut(message, 4096);
        let plugin = &*self.plugin;
        match level {
            L::Trace => tracing::trace!(plugin, "{message}"),
            L::Debug => tracing::debug!(plugin, "{message}"),
            L::Info => tracing::info!(plugin, "{message}"),
            L::Warn => tracing::warn!(plugin, "{message}"),
            L::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

/// The wasmtime engine shared by every plugin, and the thread that ticks its epoch. The
/// ticker runs as long as any clone of the engine lives (loaded plugins hold one), so a
/// plugin's deadline holds even after the `Runtime` that loaded it is gone.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
}

impl Runtime {
    pub fn new() -> wasmtime::Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true).wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Authorizer::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        // The claim-mapper world imports the same `host` interface: same definitions again.
        linker.allow_shadowing(true);
        mapper_bindings::ClaimMapper::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        linker.allow_shadowing(false);
        let ticking = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    match ticking.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Runtime { engine, linker })
    }

    /// Compiles a component and resolves its imports; what the world-specific loaders share.
    fn prepare(&self, wasm: &[u8]) -> wasmtime::Result<InstancePre<State>> {
        let component = Component::new(&self.engine, wasm)?;
        self.linker.instantiate_pre(&component)
    }

    /// Compiles and links an authorizer component. Refused (with the reason) if it is not a
    /// component of the `authorizer` world.
    pub fn load_authorizer(
        &self,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        config: HashMap<String, String>,
    ) -> wasmtime::Result<Authorizer> {
        let pre = bindings::AuthorizerPre::new(self.prepare(wasm)?)?;
        Ok(Authorizer {
            pre,
            loaded: Loaded::new(self, name, wasm, limits, config),
        })
    }

    /// Compiles and links a claim-mapper component.
    pub fn load_claim_mapper(
        &self,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        config: HashMap<String, String>,
    ) -> wasmtime::Result<ClaimMapper> {
        let pre = mapper_bindings::ClaimMapperPre::new(self.prepare(wasm)?)?;
        Ok(ClaimMapper {
            pre,
            loaded: Loaded::new(self, name, wasm, limits, config),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every loaded plugin carries: its engine, limits, config and identity.
struct Loaded {
    engine: Engine,
    limits: Limits,
    config: Arc<HashMap<String, String>>,
    name: Arc<str>,
    sha256: String,
}

impl Loaded {
    fn new(
        rt: &Runtime,
        name: &str,
        wasm: &[u8],
        limits: Limits,
        config: HashMap<String, String>,
    ) -> Loaded {
        Loaded {
            engine: rt.engine.clone(),
            limits,
            config: Arc::new(config),
            name: name.into(),
            sha256: hex(&Sha256::digest(wasm)),
        }
    }

    /// A store for one call: fresh WASI context (clocks and random only), memory cap, deadline.
    fn store(&self) -> Store<State> {
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.memory_bytes)
                    .table_elements(100_000)
                    .instances(16)
                    .trap_on_grow_failure(true)
                    .build(),
                config: self.config.clone(),
                plugin: self.name.clone(),
            },
        );
        store.limiter(|s| &mut s.limits);
        let ticks = self.limits.deadline.as_micros().div_ceil(TICK.as_micros()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// The plugin answered with an error.
    fn refused(&self, what: &str, message: &str) -> Fault {
        let message = cut(message.to_string(), MAX_REASON_BYTES);
        Fault(format!("{what} {} returned an error: {message}", self.name))
    }

    /// The call did not finish: trap, deadline, memory cap, failed instantiation.
    fn failed(&self, what: &str, err: &wasmtime::Error) -> Fault {
        Fault(format!("{what} {} failed: {}", self.name, describe(err)))
    }
}

/// A loaded claim-mapper component.
pub struct ClaimMapper {
    pre: mapper_bindings::ClaimMapperPre<State>,
    loaded: Loaded,
}

impl ClaimMapper {
    pub fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    /// Whether callers without a token or client certificate are passed to the mapper.
    pub async fn auth_info_required(&self) -> Result<bool, Fault> {
        let mut store = self.loaded.store();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .sundial_plugin_claim_mapping()
                .call_auth_info_required(&mut store)
                .await
        };
        call.await
            .map_err(|e| self.loaded.failed("claim mapper", &e))
    }

    /// The caller's claims; a fault means the caller is unauthenticated.
    pub async fn get_claims(&self, info: &AuthInfo) -> Result<Claims, Fault> {
        let mut store = self.loaded.store();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .sundial_plugin_claim_mapping()
                .call_get_claims(&mut store, info)
                .await
        };
        match call.await {
            Ok(Ok(claims)) => Ok(claims),
            Ok(Err(message)) => Err(self.loaded.refused("claim mapper", &message)),
            Err(e) => Err(self.loaded.failed("claim mapper", &e)),
        }
    }
}

/// A loaded authorizer component.
pub struct Authorizer {
    pre: bindings::AuthorizerPre<State>,
    loaded: Loaded,
}

impl Authorizer {
    /// SHA-256 of the component's bytes: the loaded version.
    pub fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    /// One decision, in a fresh instance under the plugin's limits.
    pub async fn authorize(
        &self,
        claims: Option<&Claims>,
        target: &CallTarget,
    ) -> Result<Authorization, Fault> {
        let mut store = self.loaded.store();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .sundial_plugin_access_control()
                .call_authorize(&mut store, claims, target)
                .await
        };
        match call.await {
            Ok(Ok(mut decision)) => {
                decision.reason = decision.reason.map(|r| cut(r, MAX_REASON_BYTES));
                Ok(decision)
            }
            Ok(Err(message)) => Err(self.loaded.refused("authorizer", &message)),
            Err(e) => Err(self.loaded.failed("authorizer", &e)),
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    text.truncate(text.floor_char_boundary(max));
    text
}

fn describe(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => "deadline exceeded".into(),
        Some(trap) => format!("trap: {trap}"),
        // The root cause is one line ("forcing trap when growing memory to …"); the outer
        // layers carry a wasm backtrace that helps nobody reading a server log.
        None => cut(err.root_cause().to_string(), MAX_REASON_BYTES),
    }
}
