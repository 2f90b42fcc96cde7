//! A deliberately hostile authorizer for the host's fault tests. Its `mode` config value:
//! `loop` spins forever, `memory` allocates without end, `trap` panics (a wasm trap),
//! `huge` answers with a 64 MiB reason; anything else allows.

wit_bindgen::generate!({ path: "../../wit", world: "authorizer" });

use exports::sundial::plugin::access_control::Guest;
use sundial::plugin::host;
use sundial::plugin::types::{Authorization, CallTarget, Claims, Decision};

struct Plugin;

impl Guest for Plugin {
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
            Some("huge") => Ok(Authorization {
                decision: Decision::Deny,
                reason: Some("x".repeat(64 << 20)),
                principal: None,
            }),
            _ => Ok(Authorization {
                decision: Decision::Allow,
                reason: None,
                principal: None,
            }),
        }
    }
}

export!(Plugin);
