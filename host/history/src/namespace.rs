//! Namespace registry: register/describe/list/update over the namespace store, with an
//! in-process cache used to resolve names on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use prost::Message;
use sundial_store::{NamespaceRow, Store};
use temporalio_protos::temporal::api::{
    enums::v1::{NamespaceState, ReplicationState},
    namespace::v1::{NamespaceConfig, NamespaceInfo},
    replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig},
    workflowservice::v1::{
        DescribeNamespaceResponse, ListNamespacesResponse, RegisterNamespaceRequest,
        UpdateNamespaceRequest, UpdateNamespaceResponse,
    },
};

use crate::error::{Error, Result, invalid};
use crate::state::NamespaceRecord;
use crate::time::{SECOND, dur, dur_nanos};
use sundial_visquery::ValueType;

pub const DAY: i64 = 24 * 3600 * SECOND;
/// Retention when a registration does not set one (the documented default).
pub const DEFAULT_RETENTION: i64 = 2 * DAY;
pub const MIN_RETENTION: i64 = DAY;
pub const MAX_RETENTION: i64 = 30 * DAY;
pub const RETENTION_ERROR: &str = "A valid retention period is not set on request.";

pub use sundial_services::CLUSTER_NAME;

/// A resolved namespace, as request handling needs it.
#[derive(Clone, Debug)]
pub struct Namespace {
    pub id: String,
    pub name: String,
    pub retention_nanos: i64,
    pub state: i32,
    /// Custom search attributes registered in this namespace.
    pub search_attributes: HashMap<String, ValueType>,
    record: NamespaceRecord,
    version: i64,
}

impl Namespace {
    /// Where this namespace archives histories and visibility records: the URI of each kind
    /// whose archival it has enabled.
    pub fn archival_uris(&self) -> (Option<&str>, Option<&str>) {
        let (history, visibility) = self.archival_uris_set();
        let c = self.record.config.as_ref();
        let on = |state: i32| state == sundial_archival::settings::ENABLED;
        (
            history.filter(|_| c.is_some_and(|c| on(c.history_archival_state))),
            visibility.filter(|_| c.is_some_and(|c| on(c.visibility_archival_state))),
        )
    }

    /// The URIs this namespace has set (enabled or not): an archive once written stays
    /// readable after archival is turned off.
    pub fn archival_uris_set(&self) -> (Option<&str>, Option<&str>) {
        let Some(c) = self.record.config.as_ref() else {
            return (None, None);
        };
        (
            Some(c.history_archival_uri.as_str()).filter(|u| !u.is_empty()),
            Some(c.visibility_archival_uri.as_str()).filter(|u| !u.is_empty()),
        )
    }
}

impl sundial_visquery::Schema for Namespace {
    fn custom_type(&self, name: &str) -> Option<ValueType> {
        self.search_attributes.get(name).copied()
    }
}

impl Namespace {
    /// The type of an attribute a workflow may set: custom, or predefined by the server.
    pub fn attribute_type(&self, name: &str) -> Option<ValueType> {
        self.search_attributes
            .get(name)
            .copied()
            .or_else(|| sundial_visquery::predefined_type(name))
    }

    pub fn describe(&self) -> DescribeNamespaceResponse {
        DescribeNamespaceResponse {
            namespace_info: self.record.info.clone(),
            config: self.record.config.clone(),
            replication_config: self.record.replication.clone(),
            failover_version: self.record.failover_version,
            is_global_namespace: self.record.is_global,
            ..Default::default()
        }
    }
}

/// Checks a retention the way the frontend does: set, within [1 day, 30 days].
fn validate_retention(d: &Option<prost_types::Duration>) -> Result<i64> {
    let Some(v) = d else {
        return Ok(DEFAULT_RETENTION);
    };
    if v.seconds < 0 || v.nanos < 0 || (v.seconds == 0 && v.nanos == 0) {
        return Err(invalid(RETENTION_ERROR));
    }
    let n = dur_nanos(d);
    if !(MIN_RETENTION..=MAX_RETENTION).contains(&n) {
        return Err(invalid(format!(
            "{RETENTION_ERROR} Retention must be between 1 day and 30 days, got {}s.",
            n / SECOND
        )));
    }
    Ok(n)
}

fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid("Namespace is not set on request."));
    }
    if name.len() > 255 {
        return Err(invalid("Namespace length exceeds limit of 255."));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(format!(
            "Namespace name {name:?} may contain only letters, digits, '-', '_' and '.'."
        )));
    }
    Ok(())
}

pub struct Registry {
    store: Arc<dyn Store>,
    /// The cluster's archival, as namespaces may use it.
    archival: RwLock<Arc<sundial_archival::Settings>>,
    by_name: RwLock<HashMap<String, Arc<Namespace>>>,
    by_id: RwLock<HashMap<String, Arc<Namespace>>>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Registry {
        Registry {
            store,
            archival: Default::default(),
            by_name: Default::default(),
            by_id: Default::default(),
        }
    }

    /// Sets the cluster's archival settings (at start; plugin archivers in them call whichever
    /// version of the plugin is live, so a reload needs no new settings).
    pub fn set_archival(&self, settings: Arc<sundial_archival::Settings>) {
        *self.archival.write().unwrap() = settings;
    }

    pub fn archival(&self) -> Arc<sundial_archival::Settings> {
        self.archival.read().unwrap().clone()
    }

    fn decode(row: &NamespaceRow) -> Result<Arc<Namespace>> {
        let record = NamespaceRecord::decode(row.data.as_slice())?;
        let config = record.config.clone().unwrap_or_default();
        let state = record.info.as_ref().map(|i| i.state).unwrap_or_default();
        let search_attributes = record
            .search_attributes
            .iter()
            .filter_map(|(n, t)| Some((n.clone(), ValueType::from_i32(*t)?)))
            .collect();
        Ok(Arc::new(Namespace {
            id: row.id.clone(),
            name: row.name.clone(),
            retention_nanos: dur_nanos(&config.workflow_execution_retention_ttl),
            state,
            search_attributes,
            record,
            version: row.version,
        }))
    }

    fn remember(&self, ns: Arc<Namespace>) {
        self.by_name
            .write()
            .unwrap()
            .insert(ns.name.clone(), ns.clone());
        self.by_id.write().unwrap().insert(ns.id.clone(), ns);
    }

    fn not_found(name: &str) -> Error {
        Error::NamespaceNotFound {
            namespace: name.to_string(),
            message: format!("Namespace {name} is not found."),
        }
    }

    /// Resolves a namespace by name (cache first).
    pub async fn by_name(&self, name: &str) -> Result<Arc<Namespace>> {
        if name.is_empty() {
            return Err(invalid("Namespace is not set on request."));
        }
        if let Some(ns) = self.by_name.read().unwrap().get(name) {
            return Ok(ns.clone());
        }
        let row = self
            .store
            .get_namespace_by_name(name)
            .await?
            .ok_or_else(|| Self::not_found(name))?;
        let ns = Self::decode(&row)?;
        self.remember(ns.clone());
        Ok(ns)
    }

    pub async fn by_id(&self, id: &str) -> Result<Arc<Namespace>> {
        if let Some(ns) = self.by_id.read().unwrap().get(id) {
            return Ok(ns.clone());
        }
        let row = self
            .store
            .get_namespace_by_id(id)
            .await?
            .ok_or_else(|| Self::not_found(id))?;
        let ns = Self::decode(&row)?;
        self.remember(ns.clone());
        Ok(ns)
    }

    /// Reads every namespace again and replaces the cached ones that changed: another node of
    /// the cluster may have updated them (Temporal's namespace cache refreshes the same way).
    /// Returns how many changed.
    pub async fn refresh(&self) -> Result<usize> {
        const PAGE: i64 = 1000;
        let mut after = String::new();
        let mut changed = 0;
        loop {
            let rows = self.store.list_namespaces(&after, PAGE).await?;
            for row in &rows {
                let cached = self.by_id.read().unwrap().get(&row.id).map(|n| n.version);
                if cached.is_some_and(|v| v != row.version) {
                    self.remember(Self::decode(row)?);
                    changed += 1;
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => after = last.name.clone(),
                _ => return Ok(changed),
            }
        }
    }

    /// A namespace the cache holds (every request resolves its namespace first).
    pub fn cached_by_id(&self, id: &str) -> Option<Arc<Namespace>> {
        self.by_id.read().unwrap().get(id).cloned()
    }

    /// Retention of a namespace in the cache. A run being changed has its namespace cached
    /// (loading the run loads it); a namespace deleted meanwhile gets Temporal's 1 day.
    pub fn cached_retention(&self, id: &str) -> i64 {
        let retention = self
            .by_id
            .read()
            .unwrap()
            .get(id)
            .map(|n| n.retention_nanos)
            .filter(|r| *r > 0);
        retention.unwrap_or_else(|| {
            tracing::warn!(
                namespace_id = id,
                "namespace not cached: retention of 1 day"
            );
            DAY
        })
    }

    pub async fn register(&self, req: RegisterNamespaceRequest) -> Result<()> {
        self.register_in_state(req, ReplicationState::Normal).await
    }

    /// Registers a namespace whose replication state reads `state`: `Normal` for one a caller
    /// registers, unset for those the server makes itself (as Temporal's dev server does).
    async fn register_in_state(
        &self,
        req: RegisterNamespaceRequest,
        state: ReplicationState,
    ) -> Result<()> {
        validate_name(&req.namespace)?;
        let retention = validate_retention(&req.workflow_execution_retention_period)?;
        if req.is_global_namespace {
            return Err(invalid("Cannot register global namespace when not enabled"));
        }
        if !req.active_cluster_name.is_empty() && req.active_cluster_name != CLUSTER_NAME {
            return Err(invalid(format!(
                "Invalid cluster name: {}",
                req.active_cluster_name
            )));
        }
        for c in &req.clusters {
            if c.cluster_name != CLUSTER_NAME {
                return Err(invalid(format!("Invalid cluster name: {}", c.cluster_name)));
            }
        }
        let mut config = NamespaceConfig {
            workflow_execution_retention_ttl: Some(dur(retention)),
            ..Default::default()
        };
        crate::archival::apply(
            &self.archival(),
            &mut config,
            true,
            (req.history_archival_state, &req.history_archival_uri),
            (req.visibility_archival_state, &req.visibility_archival_uri),
        )
        .await?;
        let id = uuid::Uuid::new_v4().to_string();
        let record = NamespaceRecord {
            info: Some(NamespaceInfo {
                name: req.namespace.clone(),
                state: NamespaceState::Registered as i32,
                description: req.description,
                owner_email: req.owner_email,
                data: req.data,
                id: id.clone(),
                ..Default::default()
            }),
            config: Some(config),
            replication: Some(NamespaceReplicationConfig {
                active_cluster_name: CLUSTER_NAME.into(),
                clusters: vec![ClusterReplicationConfig {
                    cluster_name: CLUSTER_NAME.into(),
                    ..Default::default()
                }],
                state: state as i32,
            }),
            config_version: 0,
            failover_version: 0,
            is_global: false,
            search_attributes: Default::default(),
        };
        let row = NamespaceRow {
            id,
            name: req.namespace.clone(),
            data: record.encode_to_vec(),
            version: 1,
        };
        match self.store.create_namespace(&row).await {
            Ok(()) => {}
            Err(sundial_store::Error::AlreadyExists(_)) => {
                return Err(Error::NamespaceAlreadyExists(req.namespace));
            }
            Err(e) => return Err(e.into()),
        }
        self.remember(Self::decode(&row)?);
        Ok(())
    }

    /// Registers `name` unless it exists (used for the dev server's default namespace).
    pub async fn ensure(&self, name: &str, retention_nanos: i64) -> Result<()> {
        if self.store.get_namespace_by_name(name).await?.is_some() {
            return Ok(());
        }
        let req = RegisterNamespaceRequest {
            namespace: name.into(),
            workflow_execution_retention_period: Some(dur(retention_nanos)),
            ..Default::default()
        };
        match self
            .register_in_state(req, ReplicationState::Unspecified)
            .await
        {
            Ok(()) | Err(Error::NamespaceAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn describe(&self, name: &str, id: &str) -> Result<DescribeNamespaceResponse> {
        let ns = match (name.is_empty(), id.is_empty()) {
            (false, true) => self.fresh_by_name(name).await?,
            (true, false) => {
                let row = self
                    .store
                    .get_namespace_by_id(id)
                    .await?
                    .ok_or_else(|| Self::not_found(id))?;
                Self::decode(&row)?
            }
            (false, false) => {
                return Err(invalid(
                    "Only one of namespace name or Id should be set on request.",
                ));
            }
            (true, true) => return Err(invalid("Namespace is not set on request.")),
        };
        Ok(ns.describe())
    }

    async fn fresh_by_name(&self, name: &str) -> Result<Arc<Namespace>> {
        let row = self
            .store
            .get_namespace_by_name(name)
            .await?
            .ok_or_else(|| Self::not_found(name))?;
        let ns = Self::decode(&row)?;
        self.remember(ns.clone());
        Ok(ns)
    }

    pub async fn list(&self, page_size: i32, token: &[u8]) -> Result<ListNamespacesResponse> {
        let limit = if page_size <= 0 {
            100
        } else {
            page_size.min(1000)
        } as i64;
        let after = std::str::from_utf8(token).map_err(|_| invalid("Invalid next_page_token."))?;
        let rows = self.store.list_namespaces(after, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let mut namespaces = Vec::new();
        let mut last = String::new();
        for row in rows.iter().take(limit as usize) {
            let ns = Self::decode(row)?;
            last = ns.name.clone();
            namespaces.push(ns.describe());
        }
        Ok(ListNamespacesResponse {
            namespaces,
            next_page_token: if more { last.into_bytes() } else { Vec::new() },
        })
    }

    pub async fn update(&self, req: UpdateNamespaceRequest) -> Result<UpdateNamespaceResponse> {
        for _ in 0..5 {
            let ns = self.fresh_by_name(&req.namespace).await?;
            let mut record = ns.record.clone();
            let info = record.info.get_or_insert_with(Default::default);
            let mut changed = false;
            if let Some(u) = &req.update_info {
                if !u.description.is_empty() {
                    info.description = u.description.clone();
                    changed = true;
                }
                if !u.owner_email.is_empty() {
                    info.owner_email = u.owner_email.clone();
                    changed = true;
                }
                for (k, v) in &u.data {
                    info.data.insert(k.clone(), v.clone());
                    changed = true;
                }
                if u.state != 0 {
                    info.state = u.state;
                    changed = true;
                }
            }
            if let Some(c) = &req.config {
                let config = record.config.get_or_insert_with(Default::default);
                if c.workflow_execution_retention_ttl.is_some() {
                    let r = validate_retention(&c.workflow_execution_retention_ttl)?;
                    config.workflow_execution_retention_ttl = Some(dur(r));
                    changed = true;
                }
                changed |= crate::archival::apply(
                    &self.archival(),
                    config,
                    false,
                    (c.history_archival_state, &c.history_archival_uri),
                    (c.visibility_archival_state, &c.visibility_archival_uri),
                )
                .await?;
                if let Some(bb) = &c.bad_binaries {
                    let target = config.bad_binaries.get_or_insert_with(Default::default);
                    for (k, v) in &bb.binaries {
                        target.binaries.insert(k.clone(), v.clone());
                    }
                    changed = true;
                }
            }
            if !req.delete_bad_binary.is_empty() {
                let config = record.config.get_or_insert_with(Default::default);
                let removed = config
                    .bad_binaries
                    .as_mut()
                    .and_then(|b| b.binaries.remove(&req.delete_bad_binary));
                if removed.is_none() {
                    return Err(invalid(format!(
                        "Bad binary checksum {} doesn't exists.",
                        req.delete_bad_binary
                    )));
                }
                changed = true;
            }
            if let Some(r) = &req.replication_config
                && ((!r.active_cluster_name.is_empty() && r.active_cluster_name != CLUSTER_NAME)
                    || r.clusters.iter().any(|c| c.cluster_name != CLUSTER_NAME))
            {
                return Err(invalid("Cannot update replication of a local namespace."));
            }
            if req.promote_namespace {
                return Err(invalid(
                    "Cannot promote namespace: global namespaces are not enabled.",
                ));
            }
            if changed {
                record.config_version += 1;
            }
            let row = NamespaceRow {
                id: ns.id.clone(),
                name: ns.name.clone(),
                data: record.encode_to_vec(),
                version: ns.version + 1,
            };
            match self.store.update_namespace(&row, ns.version).await {
                Ok(()) => {}
                Err(sundial_store::Error::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let updated = Self::decode(&row)?;
            self.remember(updated.clone());
            let d = updated.describe();
            return Ok(UpdateNamespaceResponse {
                namespace_info: d.namespace_info,
                config: d.config,
                replication_config: d.replication_config,
                failover_version: d.failover_version,
                is_global_namespace: d.is_global_namespace,
            });
        }
        Err(Error::Unavailable(
            "namespace update kept conflicting; try again".into(),
        ))
    }

    /// Registers custom search attributes (OperatorService.AddSearchAttributes). As on
    /// Temporal, adding a name that exists changes nothing, whatever the type asked for.
    pub async fn add_search_attributes(
        &self,
        namespace: &str,
        attributes: &HashMap<String, i32>,
    ) -> Result<()> {
        if namespace.is_empty() {
            return Err(invalid("Namespace is not set on request."));
        }
        if attributes.is_empty() {
            return Err(invalid("SearchAttributes are not set on request."));
        }
        let mut checked = Vec::new();
        for (name, ty) in attributes {
            if sundial_visquery::is_reserved(name) {
                return Err(invalid(format!(
                    "Search attribute {name} is reserved by system."
                )));
            }
            let ty = ValueType::from_i32(*ty).ok_or_else(|| {
                invalid(if *ty == 0 {
                    "Unable to create search attributes: cannot have more than 0 search attribute of type Unspecified.".to_string()
                } else {
                    format!("Unknown search attribute type: {ty}")
                })
            })?;
            checked.push((name.clone(), ty));
        }
        self.change_record(namespace, |record| {
            let mut changed = false;
            for (name, ty) in &checked {
                if !record.search_attributes.contains_key(name) {
                    record.search_attributes.insert(name.clone(), *ty as i32);
                    changed = true;
                }
            }
            Ok(changed)
        })
        .await
    }

    /// Unregisters custom search attributes (OperatorService.RemoveSearchAttributes); names
    /// that are not registered are ignored, as on Temporal.
    pub async fn remove_search_attributes(&self, namespace: &str, names: &[String]) -> Result<()> {
        if namespace.is_empty() {
            return Err(invalid("Namespace is not set on request."));
        }
        if names.is_empty() {
            return Err(invalid("SearchAttributes are not set on request."));
        }
        if let Some(name) = names.iter().find(|n| sundial_visquery::is_reserved(n)) {
            return Err(invalid(format!(
                "Unable to remove non-custom search attributes: {name}."
            )));
        }
        self.change_record(namespace, |record| {
            let before = record.search_attributes.len();
            for name in names {
                record.search_attributes.remove(name);
            }
            Ok(record.search_attributes.len() != before)
        })
        .await
    }

    /// Applies `change` to the stored record (retried on concurrent updates); `change`
    /// returns whether anything changed.
    async fn change_record(
        &self,
        namespace: &str,
        change: impl Fn(&mut NamespaceRecord) -> Result<bool>,
    ) -> Result<()> {
        for _ in 0..5 {
            let ns = self.fresh_by_name(namespace).await?;
            let mut record = ns.record.clone();
            if !change(&mut record)? {
                return Ok(());
            }
            let row = NamespaceRow {
                id: ns.id.clone(),
                name: ns.name.clone(),
                data: record.encode_to_vec(),
                version: ns.version + 1,
            };
            match self.store.update_namespace(&row, ns.version).await {
                Ok(()) => {
                    self.remember(Self::decode(&row)?);
                    return Ok(());
                }
                Err(sundial_store::Error::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "namespace update kept conflicting; try again".into(),
        ))
    }
}
