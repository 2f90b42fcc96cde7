//! The `host` interface (log, config), usable from native unit tests too.
//!
//! Inside a component these call the host. In a native build (`cargo test`) there is no host:
//! log lines go to stderr, and [`config`] reads values set with [`set_native_config`] on the
//! current thread, so plugin code that reads its config can be tested without a server.

pub use crate::authorizer::sundial::plugin::host::LogLevel;

/// Writes `message` to the server's log, tagged with the plugin's name.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::authorizer::sundial::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

pub fn trace(message: &str) {
    log(LogLevel::Trace, message)
}

pub fn debug(message: &str) {
    log(LogLevel::Debug, message)
}

pub fn info(message: &str) {
    log(LogLevel::Info, message)
}

pub fn warn(message: &str) {
    log(LogLevel::Warn, message)
}

pub fn error(message: &str) {
    log(LogLevel::Error, message)
}

/// A value from the plugin's `config` map in the server's YAML, if set.
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::authorizer::sundial::plugin::host::config(key);
    #[cfg(not(target_arch = "wasm32"))]
    return native::CONFIG.with(|c| c.borrow().get(key).cloned());
}

/// Native builds only: sets a config value [`config`] returns on this thread (`None` unsets).
#[cfg(not(target_arch = "wasm32"))]
pub fn set_native_config(key: &str, value: Option<&str>) {
    native::CONFIG.with(|c| {
        let mut map = c.borrow_mut();
        match value {
            Some(v) => map.insert(key.to_owned(), v.to_owned()),
            None => map.remove(key),
        };
    });
}

/// Native builds only: unsets every config value on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn clear_native_config() {
    native::CONFIG.with(|c| c.borrow_mut().clear());
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;
    use std::collections::HashMap;

    thread_local! {
        pub static CONFIG: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn native_config_round_trip() {
        assert_eq!(config("k"), None);
        set_native_config("k", Some("v"));
        assert_eq!(config("k").as_deref(), Some("v"));
        set_native_config("k", None);
        assert_eq!(config("k"), None);
        set_native_config("a", Some("1"));
        clear_native_config();
        assert_eq!(config("a"), None);
        warn("logging natively does not panic");
    }
}
