//! WorkflowService's namespace calls, each handed to the namespace registry.

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use sundial_services::Namespaces;

use super::{Res, ok, to_status};

pub(super) async fn register(
    n: &dyn Namespaces,
    r: RegisterNamespaceRequest,
) -> Res<RegisterNamespaceResponse> {
    n.register_namespace(r).await.map_err(to_status)?;
    ok(RegisterNamespaceResponse {})
}

pub(super) async fn describe(
    n: &dyn Namespaces,
    r: DescribeNamespaceRequest,
) -> Res<DescribeNamespaceResponse> {
    ok(n.describe_namespace(&r.namespace, &r.id)
        .await
        .map_err(to_status)?)
}

pub(super) async fn list(
    n: &dyn Namespaces,
    r: ListNamespacesRequest,
) -> Res<ListNamespacesResponse> {
    ok(n.list_namespaces(r.page_size, &r.next_page_token)
        .await
        .map_err(to_status)?)
}

pub(super) async fn update(
    n: &dyn Namespaces,
    r: UpdateNamespaceRequest,
) -> Res<UpdateNamespaceResponse> {
    ok(n.update_namespace(r).await.map_err(to_status)?)
}
