//! The authorization worlds: a claim mapper turns what a caller presented into claims, an
//! authorizer decides each call from the claims.

use std::sync::Mutex;

use crate::bindings::{self, sundial::plugin::types::Decision};
use crate::{
    AuthInfo, Authorization, CallTarget, Claims, Fault, Loaded, MAX_REASON_BYTES, Runtime, Spec,
    State, Warm, cut,
};

/// The claim-mapper world, sharing the `types` and `host` bindings of the authorizer's.
pub(crate) mod mapper_bindings {
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

/// A loaded claim-mapper component.
pub struct ClaimMapper {
    pre: mapper_bindings::ClaimMapperPre<State>,
    loaded: Loaded,
    idle: Mutex<Vec<Warm<mapper_bindings::ClaimMapper>>>,
}

impl ClaimMapper {
    pub fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    pub fn name(&self) -> &str {
        &self.loaded.name
    }

    /// Whether callers without a token or client certificate are passed to the mapper.
    pub async fn auth_info_required(&self) -> Result<bool, Fault> {
        self.loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| {
                    i.sundial_plugin_claim_mapping()
                        .call_auth_info_required(s)
                        .await
                        .map(Ok)
                },
            )
            .await
    }

    /// The caller's claims; a fault means the caller is unauthenticated.
    pub async fn get_claims(&self, info: &AuthInfo) -> Result<Claims, Fault> {
        let claims = self
            .loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| {
                    i.sundial_plugin_claim_mapping()
                        .call_get_claims(s, info)
                        .await
                },
            )
            .await?;
        self.loaded.metrics.claims(&self.loaded.name);
        Ok(claims)
    }
}

/// A loaded authorizer component.
pub struct Authorizer {
    pre: bindings::AuthorizerPre<State>,
    loaded: Loaded,
    idle: Mutex<Vec<Warm<bindings::Authorizer>>>,
}

impl Authorizer {
    /// SHA-256 of the component's bytes: the loaded version.
    pub fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    pub fn name(&self) -> &str {
        &self.loaded.name
    }

    /// One decision under the plugin's limits.
    pub async fn authorize(
        &self,
        claims: Option<&Claims>,
        target: &CallTarget,
    ) -> Result<Authorization, Fault> {
        let mut decision = self
            .loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| {
                    i.sundial_plugin_access_control()
                        .call_authorize(s, claims, target)
                        .await
                },
            )
            .await?;
        decision.reason = decision.reason.map(|r| cut(r, MAX_REASON_BYTES));
        self.loaded
            .metrics
            .decision(&self.loaded.name, decision.decision == Decision::Allow);
        Ok(decision)
    }
}

impl Runtime {
    /// Compiles and links an authorizer component. Refused (with the reason) if it is not a
    /// component of the `authorizer` world or wants imports the host does not give.
    pub fn load_authorizer(&self, spec: &Spec) -> wasmtime::Result<Authorizer> {
        let (pre, sha) = self.prepare(spec)?;
        let pre = bindings::AuthorizerPre::new(pre)?;
        Ok(Authorizer {
            pre,
            loaded: self.loaded(spec, "authorizer", sha),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Compiles and links a claim-mapper component.
    pub fn load_claim_mapper(&self, spec: &Spec) -> wasmtime::Result<ClaimMapper> {
        let (pre, sha) = self.prepare(spec)?;
        let pre = mapper_bindings::ClaimMapperPre::new(pre)?;
        Ok(ClaimMapper {
            pre,
            loaded: self.loaded(spec, "claim-mapper", sha),
            idle: Mutex::new(Vec::new()),
        })
    }
}
