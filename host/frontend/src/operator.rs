//! `temporal.api.operatorservice.v1.OperatorService`: search attributes. The other methods
//! (clusters, Nexus endpoints, namespace deletion) answer `Unimplemented` (the generated
//! default) rather than pretending.

use std::collections::HashMap;

use sundial_api::operatorservice::operator_service_server::OperatorService;
use sundial_api::protos::temporal::api::operatorservice::v1::*;
use sundial_visquery::{Column, PREDEFINED};
use tonic::{Request, Response, Status};

use super::{Frontend, to_status};

pub struct OperatorHandler {
    pub fe: Frontend,
}

/// System and predefined attributes with their `IndexedValueType`s.
pub fn server_attributes() -> HashMap<String, i32> {
    Column::ALL
        .iter()
        .map(|c| (c.name().to_string(), c.value_type() as i32))
        .chain(PREDEFINED.iter().map(|(n, t)| (n.to_string(), *t as i32)))
        .collect()
}

#[tonic::async_trait]
impl OperatorService for OperatorHandler {
    async fn add_search_attributes(
        &self,
        r: Request<AddSearchAttributesRequest>,
    ) -> Result<Response<AddSearchAttributesResponse>, Status> {
        let r = r.into_inner();
        self.fe
            .namespaces
            .add_search_attributes(&r.namespace, &r.search_attributes)
            .await
            .map_err(to_status)?;
        Ok(Response::new(AddSearchAttributesResponse {}))
    }

    async fn remove_search_attributes(
        &self,
        r: Request<RemoveSearchAttributesRequest>,
    ) -> Result<Response<RemoveSearchAttributesResponse>, Status> {
        let r = r.into_inner();
        self.fe
            .namespaces
            .remove_search_attributes(&r.namespace, &r.search_attributes)
            .await
            .map_err(to_status)?;
        Ok(Response::new(RemoveSearchAttributesResponse {}))
    }

    async fn list_search_attributes(
        &self,
        r: Request<ListSearchAttributesRequest>,
    ) -> Result<Response<ListSearchAttributesResponse>, Status> {
        let r = r.into_inner();
        let custom_attributes = self
            .fe
            .namespaces
            .custom_search_attributes(&r.namespace)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ListSearchAttributesResponse {
            custom_attributes,
            system_attributes: server_attributes(),
            storage_schema: HashMap::new(),
        }))
    }
}
