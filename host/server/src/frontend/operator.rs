//! `temporal.api.operatorservice.v1.OperatorService`: nothing is implemented yet, so every
//! method answers `Unimplemented` (the generated default) rather than pretending.

use sundial_api::operatorservice::operator_service_server::OperatorService;

pub struct OperatorHandler;

#[tonic::async_trait]
impl OperatorService for OperatorHandler {}
