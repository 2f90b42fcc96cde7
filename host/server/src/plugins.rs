//! The server's plugins: loading them from the config, replacing them while calls run, and
//! the triggers for that (file changes, SIGHUP, the admin endpoint).
//!
//! What is live is one immutable [`Live`] value behind a lock; a reload builds the next one
//! and swaps it in. Calls keep the `Live` (and plugin versions) they started with. A plugin
//! whose new version fails to load keeps its old version (the error is logged and counted);
//! a config that fails validation changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use sundial_plugin_host::{
    ArchiverPlugin, Authorizer, ClaimMapper, DirectoryGrant, Grants, Limits, Metrics, Runtime,
    RuntimeOptions, Spec, VisibilityStorePlugin,
};
use tokio::sync::OnceCell;

use crate::auth::{ClaimsCache, DecisionRecord};
use crate::config::{AuthorizationConfig, Config, PluginConfig};

/// The largest memory cap a plugin may ask for.
pub const MAX_PLUGIN_MEMORY: usize = 512 << 20;

/// A loaded claim mapper, with its answer to `auth-info-required` asked once.
pub struct Mapper {
    pub plugin: ClaimMapper,
    required: OnceCell<bool>,
}

impl Mapper {
    /// Whether callers without credentials are passed over (claims none). A mapper that
    /// fails to answer is taken to require credentials.
    pub async fn auth_info_required(&self) -> bool {
        *self
            .required
            .get_or_init(|| async {
                self.plugin.auth_info_required().await.unwrap_or_else(|f| {
                    tracing::warn!(error = %f, "claim mapper: auth-info-required failed; assuming true");
                    true
                })
            })
            .await
    }
}

#[derive(Clone)]
enum Loaded {
    Mapper(Arc<Mapper>),
    Authorizer(Arc<Authorizer>),
    VisibilityStore(Arc<VisibilityStorePlugin>),
    Archiver(Arc<ArchiverPlugin>),
}

/// One loaded plugin and what it was loaded from (to tell whether a reload changes it).
#[derive(Clone)]
struct Entry {
    origin: Origin,
    loaded: Loaded,
}

#[derive(Clone, PartialEq)]
struct Origin {
    kind: String,
    sha256: String,
    limits: Limits,
    grants: Grants,
    config: BTreeMap<String, String>,
}

/// What decides calls now.
pub struct Live {
    pub settings: AuthorizationConfig,
    pub mapper: Option<Arc<Mapper>>,
    pub authorizer: Option<Arc<Authorizer>>,
    /// The visibility store `persistence.visibility_store` names.
    pub visibility: Option<Arc<VisibilityStorePlugin>>,
    /// Changes whenever the mapper does: cached claims of another generation are not used.
    pub generation: u64,
    /// Claims per credentials, sized by `authorization.claims_cache_entries`.
    pub claims: Arc<ClaimsCache>,
    /// Where decisions are recorded (`authorization.record_decisions`), if anywhere.
    pub decisions: Option<Arc<DecisionRecord>>,
    entries: HashMap<String, Entry>,
}

impl Live {
    /// The live version of the archiver plugin `name`.
    pub fn archiver(&self, name: &str) -> Option<Arc<ArchiverPlugin>> {
        match &self.entries.get(name)?.loaded {
            Loaded::Archiver(a) => Some(a.clone()),
            _ => None,
        }
    }
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct Report {
    /// Plugins now running a new version: (name, sha256).
    pub loaded: Vec<(String, String)>,
    /// Plugins whose new version was refused (the old one still serves): (name, error).
    pub refused: Vec<(String, String)>,
    /// Config sections that changed but apply only at the next start (their YAML keys).
    pub unapplied: Vec<&'static str>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.unapplied.is_empty() {
            let names: Vec<String> = self.unapplied.iter().map(|s| format!("`{s}`")).collect();
            writeln!(
                f,
                "warning: {} changed in the file; applied at the next start, not now",
                names.join(", ")
            )?;
        }
        if self.loaded.is_empty() && self.refused.is_empty() {
            return writeln!(f, "no plugin changed");
        }
        for (name, sha) in &self.loaded {
            writeln!(f, "loaded {name} {sha}")?;
        }
        for (name, err) in &self.refused {
            writeln!(
                f,
                "refused {name}: {err} (the previous version keeps serving)"
            )?;
        }
        Ok(())
    }
}

/// The plugin runtime and the live set.
pub struct Plugins {
    runtime: Runtime,
    live: RwLock<Arc<Live>>,
    config: Mutex<Config>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl Plugins {
    /// Loads every plugin of `config`. Any failure is an error naming the plugin.
    pub fn start(config: &Config, metrics: Metrics) -> anyhow::Result<Plugins> {
        let runtime = Runtime::with_options(
            RuntimeOptions {
                max_memory_bytes: MAX_PLUGIN_MEMORY,
                ..RuntimeOptions::default()
            },
            metrics,
        )
        .map_err(|e| anyhow::anyhow!("starting the plugin runtime: {e}"))?;
        let mut report = Report::default();
        let live = build(&runtime, config, None, 1, &mut report)?;
        if let Some((name, err)) = report.refused.first() {
            anyhow::bail!("plugin {name:?}: {err}");
        }
        if live.authorizer.is_none() {
            tracing::warn!(
                "NO AUTHORIZER CONFIGURED: every call is allowed. Set `authorization.authorizer` \
                 (e.g. a plugin with `builtin: default-authorizer`) for anything but development."
            );
        }
        if let Some(a) = &live.authorizer
            && config
                .plugins
                .iter()
                .any(|p| p.name == a.name() && p.builtin.as_deref() == Some("nop-authorizer"))
        {
            tracing::warn!(
                plugin = a.name(),
                "THE NOP AUTHORIZER IS CONFIGURED: every call is allowed, whoever makes it."
            );
        }
        Ok(Plugins {
            runtime,
            live: RwLock::new(Arc::new(live)),
            config: Mutex::new(config.clone()),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// What decides calls now.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().expect("live").clone()
    }

    pub fn metrics(&self) -> &Metrics {
        self.runtime.metrics()
    }

    /// Files whose changes trigger a reload: the config file and every watched plugin file.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let config = self.config.lock().expect("config");
        let mut files: Vec<PathBuf> = config.source.iter().cloned().collect();
        for p in &config.plugins {
            if let (true, Some(file)) = (p.watch, &p.file) {
                files.push(config.resolve(file));
            }
        }
        files
    }

    /// Reads the config file again (when there is one) and every plugin file, and replaces
    /// what changed. A config that does not validate is refused as a whole.
    pub async fn reload(&self) -> anyhow::Result<Report> {
        let _one = self.reloading.lock().await;
        let current = self.config.lock().expect("config").clone();
        let mut unapplied = Vec::new();
        let next = match &current.source {
            Some(path) => {
                let mut next = Config::from_yaml(path)?;
                next.validate()?;
                // Only the plugin and authorization sections apply without a restart.
                unapplied = next.keep_running_sections(&current);
                if !unapplied.is_empty() {
                    tracing::warn!(
                        sections = ?unapplied,
                        "config reload: only `plugins` and `authorization` apply while running; \
                         the other sections changed take effect at the next start"
                    );
                }
                if next.archiver_schemes() != current.archiver_schemes() {
                    tracing::warn!(
                        "config reload: archivers' `schemes` apply at the next start; \
                         new versions of archiver plugins apply now"
                    );
                }
                next
            }
            None => current,
        };
        let runtime = &self.runtime;
        let previous = self.live();
        let mut report = Report {
            unapplied,
            ..Report::default()
        };
        let live = build(
            runtime,
            &next,
            Some(&previous),
            previous.generation,
            &mut report,
        );
        let live = match live {
            Ok(live) => live,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "plugin reload refused; nothing changed");
                return Err(e);
            }
        };
        for (name, err) in &report.refused {
            tracing::error!(plugin = %name, error = %err, "new plugin version refused; the previous version keeps serving");
        }
        for (name, sha) in &report.loaded {
            tracing::info!(plugin = %name, sha256 = %sha, "plugin version loaded");
        }
        *self.live.write().expect("live") = Arc::new(live);
        *self.config.lock().expect("config") = next;
        Ok(report)
    }
}

/// The component bytes a plugin entry names.
fn bytes_of(config: &Config, p: &PluginConfig) -> anyhow::Result<Arc<[u8]>> {
    match (&p.file, &p.builtin) {
        (Some(file), _) => {
            let path = config.resolve(file);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(bytes.into())
        }
        (None, Some(name)) => sundial_builtin_plugins::builtin(name)
            .map(Arc::from)
            .ok_or_else(|| anyhow::anyhow!("no built-in plugin {name:?}")),
        (None, None) => anyhow::bail!("neither `file` nor `builtin` given"),
    }
}

fn spec_of(config: &Config, p: &PluginConfig, wasm: Arc<[u8]>) -> Spec {
    Spec {
        name: p.name.clone(),
        wasm,
        limits: Limits {
            deadline: p.deadline(),
            memory_bytes: p.memory(),
            fuel: p.limits.fuel,
        },
        grants: Grants {
            http: p.grants.http.clone(),
            directories: p
                .grants
                .directories
                .iter()
                .map(|d| DirectoryGrant {
                    host: config.resolve(&d.host),
                    guest: d.guest.clone(),
                    writable: d.writable,
                })
                .collect(),
        },
        config: p.config.clone().into_iter().collect(),
    }
}

fn load(runtime: &Runtime, kind: &str, spec: &Spec) -> anyhow::Result<Loaded> {
    sundial_plugin_host::check_grants(&spec.grants).map_err(anyhow::Error::msg)?;
    let loaded = match kind {
        "claim-mapper" => Loaded::Mapper(Arc::new(Mapper {
            plugin: runtime
                .load_claim_mapper(spec)
                .map_err(|e| anyhow::anyhow!("not a loadable claim mapper: {e:#}"))?,
            required: OnceCell::new(),
        })),
        "authorizer" => Loaded::Authorizer(Arc::new(
            runtime
                .load_authorizer(spec)
                .map_err(|e| anyhow::anyhow!("not a loadable authorizer: {e:#}"))?,
        )),
        "visibility-store" => Loaded::VisibilityStore(Arc::new(
            runtime
                .load_visibility_store(spec)
                .map_err(|e| anyhow::anyhow!("not a loadable visibility store: {e:#}"))?,
        )),
        "archiver" => Loaded::Archiver(Arc::new(
            runtime
                .load_archiver(spec)
                .map_err(|e| anyhow::anyhow!("not a loadable archiver: {e:#}"))?,
        )),
        other => anyhow::bail!("unsupported plugin kind {other:?}"),
    };
    Ok(loaded)
}

/// The live set for `config`, reusing what did not change in `previous`. A plugin that fails
/// to load keeps its previous version (reported in `report.refused`); with no previous
/// version the whole build fails.
fn build(
    runtime: &Runtime,
    config: &Config,
    previous: Option<&Live>,
    generation: u64,
    report: &mut Report,
) -> anyhow::Result<Live> {
    let mut entries = HashMap::new();
    let mut mapper_changed = false;
    for p in &config.plugins {
        let old = previous.and_then(|prev| prev.entries.get(&p.name));
        let attempt = bytes_of(config, p).and_then(|wasm| {
            let spec = spec_of(config, p, wasm);
            let origin = Origin {
                kind: p.kind.clone(),
                sha256: sundial_plugin_host::sha256_hex(&spec.wasm),
                limits: spec.limits.clone(),
                grants: spec.grants.clone(),
                config: p.config.clone(),
            };
            if let Some(old) = old
                && old.origin == origin
            {
                return Ok(None);
            }
            let loaded = load(runtime, &p.kind, &spec)?;
            Ok(Some((origin, loaded)))
        });
        match (attempt, old) {
            (Ok(None), Some(old)) => {
                entries.insert(p.name.clone(), old.clone());
            }
            (Ok(Some((origin, loaded))), _) => {
                runtime
                    .metrics()
                    .set_loaded(&p.name, &p.kind, &origin.sha256);
                if previous.is_some() {
                    runtime.metrics().reloaded(&p.name, true);
                }
                report.loaded.push((p.name.clone(), origin.sha256.clone()));
                if p.kind == "claim-mapper" {
                    mapper_changed = true;
                }
                entries.insert(p.name.clone(), Entry { origin, loaded });
            }
            (Err(e), Some(old)) if old.origin.kind == p.kind => {
                runtime.metrics().reloaded(&p.name, false);
                report.refused.push((p.name.clone(), format!("{e:#}")));
                entries.insert(p.name.clone(), old.clone());
            }
            (Err(e), _) => {
                runtime.metrics().reloaded(&p.name, false);
                return Err(e.context(format!("plugin {:?}", p.name)));
            }
            (Ok(None), None) => unreachable!("unchanged needs a previous version"),
        }
    }
    let mut settings = config.authorization.clone();
    settings.record_decisions = settings.record_decisions.map(|p| config.resolve(&p));
    let claims = match previous {
        Some(prev) if prev.claims.entries() == settings.claims_cache_entries => prev.claims.clone(),
        _ => Arc::new(ClaimsCache::new(settings.claims_cache_entries)),
    };
    let decisions = match previous.and_then(|prev| prev.decisions.as_ref()) {
        Some(record) if record.serves(&settings) => Some(record.clone()),
        _ => DecisionRecord::open(&settings)
            .with_context(|| {
                format!(
                    "authorization.record_decisions: cannot open {:?}",
                    settings
                        .record_decisions
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            })?
            .map(Arc::new),
    };
    let mapper = settings
        .claim_mapper
        .as_ref()
        .and_then(|n| match &entries.get(n)?.loaded {
            Loaded::Mapper(m) => Some(m.clone()),
            _ => None,
        });
    let authorizer = settings
        .authorizer
        .as_ref()
        .and_then(|n| match &entries.get(n)?.loaded {
            Loaded::Authorizer(a) => Some(a.clone()),
            _ => None,
        });
    let visibility =
        config
            .persistence
            .visibility_store
            .as_ref()
            .and_then(|n| match &entries.get(n)?.loaded {
                Loaded::VisibilityStore(v) => Some(v.clone()),
                _ => None,
            });
    let same_mapper = previous.is_some_and(|prev| {
        prev.settings.claim_mapper == settings.claim_mapper
            && prev.settings.audience == settings.audience
    });
    let generation = if mapper_changed || !same_mapper {
        generation + 1
    } else {
        generation
    };
    Ok(Live {
        settings,
        mapper,
        authorizer,
        visibility,
        generation,
        claims,
        decisions,
        entries,
    })
}

/// Reloads when a watched file changes (debounced), until the plugins are dropped.
pub fn watch(plugins: &Arc<Plugins>) -> anyhow::Result<()> {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only changes count: the server's own reads (open, close) would otherwise trigger
        // the next reload, forever.
        if let Ok(event) = event
            && matches!(
                event.kind,
                notify::EventKind::Create(_)
                    | notify::EventKind::Modify(_)
                    | notify::EventKind::Remove(_)
            )
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    let mut dirs = HashSet::new();
    let mut watch_dirs = move |watcher: &mut notify::RecommendedWatcher, files: &[PathBuf]| {
        for file in files {
            if let Some(dir) = file.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir.to_path_buf()
                };
                if dirs.insert(dir.clone())
                    && let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive)
                {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch plugin directory");
                }
            }
        }
    };
    watch_dirs(&mut watcher, &plugins.watched_files());
    let weak = Arc::downgrade(plugins);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let Some(plugins) = weak.upgrade() else { break };
            let files: HashSet<PathBuf> = plugins
                .watched_files()
                .into_iter()
                .map(|f| canonical(&f))
                .collect();
            let mut hit = files.contains(&canonical(&first));
            // Let a burst of writes (copy, rename) settle.
            tokio::time::sleep(Duration::from_millis(150)).await;
            while let Ok(path) = rx.try_recv() {
                hit |= files.contains(&canonical(&path));
            }
            if !hit {
                continue;
            }
            tracing::info!("plugin or config file changed; reloading");
            if let Err(e) = plugins.reload().await {
                tracing::error!(error = %format!("{e:#}"), "reload after file change refused");
            }
            watch_dirs(&mut watcher, &plugins.watched_files());
        }
    });
    Ok(())
}

/// `path` made absolute with its directory resolved (the file itself may be gone for a
/// moment while it is being replaced).
fn canonical(path: &std::path::Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}
