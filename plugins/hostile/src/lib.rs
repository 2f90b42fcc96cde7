//! A deliberately hostile authorizer for the host's fault tests. Its `mode` config value:
//! `loop` spins forever, `memory` allocates without end, `trap` panics (a wasm trap),
//! `huge` answers with a 64 MiB reason; anything else allows.

use sundial_plugin_sdk::{Authorization, Authorizer, CallTarget, Claims, host};

struct Plugin;

impl Authorizer for Plugin {
    fn authorize(_claims: Option<Claims>, _target: CallTarget) -> Result<Authorization, String> {
        match host::config("mode").as_deref() {
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
            Some("trap") => panic!("hostile plugin traps on purpose"),
            Some("huge") => Ok(Authorization::deny(Some("x".repeat(64 << 20)))),
            _ => Ok(Authorization::allow(None)),
        }
    }
}

sundial_plugin_sdk::export_authorizer!(Plugin with_types_in sundial_plugin_sdk::authorizer);
