//! The gRPC API between Sundial nodes (package `sundial.internal.v1`): a node's history
//! service runs operations on the runs of the shards it owns, its matching service takes
//! tasks for the queues it owns. Public WorkflowService calls are not in here: a node routes
//! those to their owner unchanged.
//!
//! Temporal messages travel encoded in `bytes` fields, so this package depends on no other.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("sundial.internal.v1");
