//! A deliberately hostile archiver for the server's archival fault tests. Every call misbehaves
//! as the `mode` config value says: `trap` panics (a wasm trap), `loop` spins forever (the
//! deadline ends it), `memory` allocates without end (the memory cap ends it), `refuse` answers
//! a non-retryable error. Without a mode it still archives nothing: it answers `retryable`.
//! URIs are accepted whatever they are, so a namespace can be set up to use it.

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    path: "../../wit",
    world: "archiver",
});

use exports::sundial::plugin::history_archival::{self, ArchiveHistoryRequest, GetHistoryRequest};
use exports::sundial::plugin::visibility_archival::{
    self, QueryVisibilityRequest, QueryVisibilityResponse, VisibilityRecord,
};
use sundial::plugin::history_source::HistoryPage;
use sundial::plugin::host;
use sundial::plugin::types::PluginError;

struct Plugin;

fn misbehave<T>() -> Result<T, PluginError> {
    match host::config("mode").as_deref() {
        Some("trap") => panic!("hostile archiver traps on purpose"),
        Some("loop") => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Some("memory") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Some("refuse") => Err(PluginError::NonRetryable("hostile archiver refuses".into())),
        _ => Err(PluginError::Retryable(
            "hostile archiver archives nothing".into(),
        )),
    }
}

impl history_archival::Guest for Plugin {
    fn validate_uri(_uri: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn archive_history(_uri: String, _request: ArchiveHistoryRequest) -> Result<(), PluginError> {
        misbehave()
    }

    fn get_history(_uri: String, _request: GetHistoryRequest) -> Result<HistoryPage, PluginError> {
        misbehave()
    }
}

impl visibility_archival::Guest for Plugin {
    fn validate_uri(_uri: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn archive_visibility(_uri: String, _entry: VisibilityRecord) -> Result<(), PluginError> {
        misbehave()
    }

    fn query_visibility(
        _uri: String,
        _request: QueryVisibilityRequest,
    ) -> Result<QueryVisibilityResponse, PluginError> {
        misbehave()
    }
}

export!(Plugin);
