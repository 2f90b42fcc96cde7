//! The server's metrics, named, labelled and bucketed as Temporal's so its dashboards read
//! them: the calls the frontend answers ([`request`]) and the actions among them ([`action`]),
//! calls between nodes ([`client`]), the database's calls ([`store`]) and the process
//! ([`runtime`]). The engine keeps its own (workflows, shards, polls, the run cache).

pub(crate) mod action;
pub(crate) mod client;
pub(crate) mod request;
pub(crate) mod runtime;
pub(crate) mod store;
