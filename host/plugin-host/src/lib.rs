//! The wasmtime host for Sundial's plugin components (WIT package `sundial:plugin`, see
//! `wit/`).
//!
//! - A component is compiled once per content hash and linked into an `InstancePre`; instances
//!   come from wasmtime's pooling allocator when the machine allows it.
//! - Instances are kept warm: a call takes an idle instance of its plugin (or makes one) and
//!   gives it back afterwards, so a plugin may keep state between calls (a JWT mapper's keys).
//!   An instance that faulted is dropped, never reused.
//! - Every call runs under the plugin's limits: a wall-clock deadline (epoch interruption for
//!   running wasm, a timer for time spent waiting on the host), a memory cap, optional fuel.
//! - Deny by default: a plugin sees clocks and random numbers, its own config values, and
//!   only what its grants add — outgoing HTTP to listed hosts (checked against the address the
//!   host connects to) and preopened directories (read-only).
//! - A trap, a missed deadline or a memory blow-up is a [`Fault`], never a panic or a hang of
//!   the server; callers fail closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod archiver;
mod auth;
mod epoch;
mod grants;
pub mod metrics;
mod reload;
mod visibility;

pub use archiver::ArchiverPlugin;
pub use auth::{Authorizer, ClaimMapper};
pub use grants::{DirectoryGrant, Grants};
pub use metrics::Metrics;
pub use reload::{AuthorizerSlot, Slot};
pub use visibility::{VisibilityStorePlugin, visibility_storage};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "authorizer",
        exports: { default: async },
    });
}

pub use bindings::sundial::plugin::types::{
    AuthInfo, Authorization, CallTarget, Claims, Decision, NamespaceRole, Principal, TlsSubject,
};

/// Longest deny reason passed on from a plugin; longer ones are cut.
pub const MAX_REASON_BYTES: usize = 1024;

/// Idle warm instances kept per loaded plugin version.
const MAX_IDLE: usize = 8;

/// Per-call limits of a plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Wall-clock budget of one call, instantiation included (rounded up to the epoch tick).
    pub deadline: Duration,
    /// Largest linear memory (and tables) the instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Fuel (roughly, wasm instructions) one call may burn; none: unmetered.
    pub fuel: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            memory_bytes: 16 << 20,
            fuel: None,
        }
    }
}

/// Everything needed to load one plugin.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// Names the plugin in logs and metrics.
    pub name: String,
    pub wasm: Arc<[u8]>,
    pub limits: Limits,
    pub grants: Grants,
    /// Values the plugin reads with `host.config`.
    pub config: HashMap<String, String>,
}

impl Spec {
    pub fn new(name: &str, wasm: impl Into<Arc<[u8]>>) -> Spec {
        Spec {
            name: name.into(),
            wasm: wasm.into(),
            ..Spec::default()
        }
    }

    pub fn limits(mut self, limits: Limits) -> Spec {
        self.limits = limits;
        self
    }

    pub fn grants(mut self, grants: Grants) -> Spec {
        self.grants = grants;
        self
    }

    pub fn config<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Spec {
        self.config = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }
}

/// Why a call produced no answer. Callers fail closed.
#[derive(Debug, Clone)]
pub struct Fault {
    pub cause: FaultCause,
    pub message: String,
}

/// What kind of fault, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCause {
    /// The plugin answered with an error.
    Refused,
    Deadline,
    Memory,
    Fuel,
    Trap,
    /// Anything else: instantiation failed, a host call failed, no capacity left.
    Failed,
}

impl FaultCause {
    pub fn label(self) -> &'static str {
        match self {
            FaultCause::Refused => "refused",
            FaultCause::Deadline => "deadline",
            FaultCause::Memory => "memory",
            FaultCause::Fuel => "fuel",
            FaultCause::Trap => "trap",
            FaultCause::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: grants::HttpHooks,
    table: ResourceTable,
    limits: StoreLimits,
    config: Arc<HashMap<String, String>>,
    plugin: Arc<str>,
    /// The run an archiver's `archive-history` call is archiving, read by `read-history`.
    history: Option<Arc<dyn sundial_archival::HistorySource>>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
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

/// Capacity of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Plugin calls running at once; more wait for a free place (within their deadline).
    pub max_concurrent_calls: usize,
    /// The largest memory cap any plugin may have (sizes the pooling allocator's slots).
    pub max_memory_bytes: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            max_concurrent_calls: 128,
            max_memory_bytes: 512 << 20,
        }
    }
}

/// The wasmtime engine shared by every plugin, and the thread that ticks its epoch. The
/// ticker runs as long as any clone of the engine lives (loaded plugins hold one), so a
/// plugin's deadline holds even after the `Runtime` that loaded it is gone.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    compiled: Mutex<HashMap<String, Component>>,
    calls: Arc<tokio::sync::Semaphore>,
    epoch: Arc<epoch::Epoch>,
    options: RuntimeOptions,
    metrics: Metrics,
    pooling: bool,
}

/// Compiled components kept for reloads of the same bytes.
const MAX_COMPILED: usize = 32;

fn engine_config(pool: Option<&RuntimeOptions>) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .epoch_interruption(true)
        .consume_fuel(true)
        .wasm_component_model(true);
    if let Some(options) = pool {
        // Room for every call in flight plus the warm instances kept idle.
        let slots = (options.max_concurrent_calls + 64 * MAX_IDLE) as u32;
        let mut pooling = wasmtime::PoolingAllocationConfig::new();
        pooling
            .total_component_instances(slots)
            // A componentize-py instance alone holds ~40 core instances.
            .total_core_instances(slots * 48)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .total_stacks(slots)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(64)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(4 << 20)
            .max_memory_size(options.max_memory_bytes);
        config
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling))
            .memory_reservation(options.max_memory_bytes as u64)
            .memory_guard_size(64 << 10);
    }
    config
}

impl Runtime {
    pub fn new() -> wasmtime::Result<Runtime> {
        Runtime::with_options(RuntimeOptions::default(), Metrics::new())
    }

    /// A runtime with these capacities, recording into `metrics`. Uses the pooling
    /// allocator, or allocates on demand where the machine refuses the pool's reservation.
    pub fn with_options(options: RuntimeOptions, metrics: Metrics) -> wasmtime::Result<Runtime> {
        let (engine, pooling) = match Engine::new(&engine_config(Some(&options))) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!(error = %e, "plugin runtime: pooling allocator unavailable; allocating on demand");
                (Engine::new(&engine_config(None))?, false)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::Authorizer::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        // The claim-mapper world imports the same `host` interface: same definitions again.
        linker.allow_shadowing(true);
        auth::mapper_bindings::ClaimMapper::add_to_linker::<State, HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        visibility::add_to_linker(&mut linker)?;
        archiver::add_to_linker(&mut linker)?;
        linker.allow_shadowing(false);
        let epoch = epoch::Epoch::start(&engine)?;
        Ok(Runtime {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            calls: Arc::new(tokio::sync::Semaphore::new(options.max_concurrent_calls)),
            epoch,
            options,
            metrics,
            pooling,
        })
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Compiles (or finds compiled) and links a component; what the world loaders share.
    fn prepare(&self, spec: &Spec) -> wasmtime::Result<(InstancePre<State>, String)> {
        if spec.limits.memory_bytes > self.options.max_memory_bytes {
            wasmtime::bail!(
                "memory limit {} bytes is above the runtime's largest ({} bytes)",
                spec.limits.memory_bytes,
                self.options.max_memory_bytes
            );
        }
        let sha = sha256_hex(&spec.wasm);
        let cached = self.compiled.lock().expect("compiled").get(&sha).cloned();
        let component = match cached {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, &spec.wasm)?;
                let mut compiled = self.compiled.lock().expect("compiled");
                if compiled.len() >= MAX_COMPILED {
                    compiled.clear();
                }
                compiled.insert(sha.clone(), c.clone());
                c
            }
        };
        Ok((self.linker.instantiate_pre(&component)?, sha))
    }

    fn loaded(&self, spec: &Spec, kind: &'static str, sha256: String) -> Loaded {
        Loaded {
            engine: self.engine.clone(),
            limits: spec.limits.clone(),
            grants: spec.grants.clone(),
            config: Arc::new(spec.config.clone()),
            name: spec.name.as_str().into(),
            kind,
            sha256,
            calls: self.calls.clone(),
            epoch: self.epoch.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl Runtime {
    /// Compiles and links an archiver component.
    pub fn load_archiver(&self, spec: &Spec) -> wasmtime::Result<ArchiverPlugin> {
        let (pre, sha) = self.prepare(spec)?;
        ArchiverPlugin::new(pre, self.loaded(spec, "archiver", sha))
    }

    /// Compiles and links a visibility-store component.
    pub fn load_visibility_store(&self, spec: &Spec) -> wasmtime::Result<VisibilityStorePlugin> {
        let (pre, sha) = self.prepare(spec)?;
        VisibilityStorePlugin::new(pre, self.loaded(spec, "visibility-store", sha))
    }
}

/// SHA-256 of a component's bytes, in hex: the version a plugin reports.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What every loaded plugin carries: its engine, limits, grants, config and identity.
pub(crate) struct Loaded {
    engine: Engine,
    limits: Limits,
    grants: Grants,
    config: Arc<HashMap<String, String>>,
    name: Arc<str>,
    kind: &'static str,
    sha256: String,
    calls: Arc<tokio::sync::Semaphore>,
    epoch: Arc<epoch::Epoch>,
    metrics: Metrics,
}

/// An instance with its store, kept between calls.
pub(crate) struct Warm<I> {
    store: Store<State>,
    instance: I,
}

impl Loaded {
    /// A store for a new instance: WASI with only the granted directories, HTTP through the
    /// grant check, the memory cap.
    fn store(&self) -> Result<Store<State>, Fault> {
        let mut wasi = WasiCtx::builder();
        for dir in &self.grants.directories {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    self.fault(
                        FaultCause::Failed,
                        format!("cannot open granted directory {}: {e}", dir.host.display()),
                    )
                })?;
        }
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                hooks: grants::HttpHooks::new(self.grants.http.clone(), self.name.clone()),
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.memory_bytes)
                    .table_elements(1_000_000)
                    .instances(64)
                    .trap_on_grow_failure(true)
                    .build(),
                config: self.config.clone(),
                plugin: self.name.clone(),
                history: None,
            },
        );
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        Ok(store)
    }

    /// Sets the deadline and fuel of the call about to run in `store`.
    fn arm(&self, store: &mut Store<State>) {
        let tick = epoch::TICK.as_micros();
        let ticks = self.limits.deadline.as_micros().div_ceil(tick) as u64 + 1;
        store.set_epoch_deadline(ticks);
        // Fuel is always metered by the engine; an unmetered plugin gets all there is.
        let _ = store.set_fuel(self.limits.fuel.unwrap_or(u64::MAX));
    }

    fn fault(&self, cause: FaultCause, message: String) -> Fault {
        Fault {
            cause,
            message: format!("{} {}: {message}", self.kind, self.name),
        }
    }

    /// The plugin answered with an error.
    fn refused(&self, message: &str) -> Fault {
        self.fault(
            FaultCause::Refused,
            format!(
                "returned an error: {}",
                cut(message.to_string(), MAX_REASON_BYTES)
            ),
        )
    }

    /// The call did not finish: trap, deadline, memory cap, failed instantiation.
    fn failed(&self, err: &wasmtime::Error) -> Fault {
        let (cause, text) = describe(err);
        self.fault(cause, format!("failed: {text}"))
    }

    /// Runs one call: waits for capacity, takes a warm instance (or makes one), runs `call`
    /// under the limits, keeps the instance if it came back healthy.
    pub(crate) async fn run<I, T, F>(
        &self,
        idle: &Mutex<Vec<Warm<I>>>,
        instantiate: impl AsyncFnOnce(&mut Store<State>) -> wasmtime::Result<I>,
        call: F,
    ) -> Result<T, Fault>
    where
        F: AsyncFnOnce(&I, &mut Store<State>) -> wasmtime::Result<Result<T, String>>,
    {
        let started = Instant::now();
        // The epoch advances while any call runs, from before the instance's first
        // instruction (instantiating runs the component's start code) to the last.
        let _running = self.epoch.enter();
        let outcome = tokio::time::timeout(self.limits.deadline, async {
            let _permit = self
                .calls
                .acquire()
                .await
                .map_err(|_| self.fault(FaultCause::Failed, "runtime closed".into()))?;
            let taken = idle.lock().expect("idle").pop();
            let mut warm = match taken {
                Some(w) => w,
                None => {
                    let mut store = self.store()?;
                    self.arm(&mut store);
                    let instance = instantiate(&mut store).await.map_err(|e| self.failed(&e))?;
                    Warm { store, instance }
                }
            };
            self.arm(&mut warm.store);
            match call(&warm.instance, &mut warm.store).await {
                Ok(answer) => {
                    let mut idle = idle.lock().expect("idle");
                    if idle.len() < MAX_IDLE {
                        idle.push(warm);
                    }
                    answer.map_err(|m| self.refused(&m))
                }
                // The instance may be in any state now: it is dropped.
                Err(e) => Err(self.failed(&e)),
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(self.fault(
                FaultCause::Deadline,
                "failed: deadline exceeded (waiting on the host)".into(),
            ))
        });
        self.metrics
            .observe(&self.name, started.elapsed(), outcome.as_ref().err());
        outcome
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    text.truncate(text.floor_char_boundary(max));
    text
}

fn describe(err: &wasmtime::Error) -> (FaultCause, String) {
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => (FaultCause::Deadline, "deadline exceeded".into()),
        Some(wasmtime::Trap::OutOfFuel) => (FaultCause::Fuel, "out of fuel".into()),
        Some(trap) => (FaultCause::Trap, format!("trap: {trap}")),
        // The root cause is one line ("forcing trap when growing memory to …"); the outer
        // layers carry a wasm backtrace that helps nobody reading a server log.
        None => {
            let text = cut(err.root_cause().to_string(), MAX_REASON_BYTES);
            let cause = if text.contains("growing memory") || text.contains("growing table") {
                FaultCause::Memory
            } else {
                FaultCause::Failed
            };
            (cause, text)
        }
    }
}

/// Where granted directories are checked to exist (a missing one is a load error, not a
/// call-time surprise).
pub fn check_grants(grants: &Grants) -> Result<(), String> {
    for dir in &grants.directories {
        if !dir.host.is_dir() {
            return Err(format!(
                "granted directory {} does not exist",
                dir.host.display()
            ));
        }
    }
    Ok(())
}
