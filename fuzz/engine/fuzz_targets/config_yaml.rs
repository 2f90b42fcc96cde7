//! The server's YAML config: any text is read and validated, or refused with an error naming
//! the key: no panic, no hang, no unbounded allocation (e.g. from YAML aliases).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sundial_server::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse_yaml(text, "fuzz.yaml") {
        let _ = config.validate();
    }
});
