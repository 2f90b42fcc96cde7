//! The engine's epoch, which call deadlines count in: a thread advances it every [`TICK`]
//! while plugin calls run, and sleeps while none does. Ticking all the time woke the process
//! 200 times a second, idle or not (three thread wake-ups per workflow under the Python SDK
//! load, BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances while calls run: the granularity of call deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// How often the idle thread looks whether its engine is gone (then it ends).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The ticking thread and the count of calls running.
pub(crate) struct Epoch {
    running: Arc<AtomicUsize>,
    thread: Thread,
}

impl Epoch {
    /// Starts the thread for `engine`; it ends once the engine is dropped.
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Arc<Epoch>> {
        let running = Arc::new(AtomicUsize::new(0));
        let calls = running.clone();
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                loop {
                    if calls.load(Ordering::Acquire) == 0 {
                        // A call that starts meanwhile unparks this thread (or has already:
                        // then this returns at once).
                        std::thread::park_timeout(IDLE_CHECK);
                        if engine.upgrade().is_none() {
                            break;
                        }
                        continue;
                    }
                    std::thread::sleep(TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?
            .thread()
            .clone();
        Ok(Arc::new(Epoch { running, thread }))
    }

    /// Marks a call as running until the guard drops: the epoch advances meanwhile.
    pub(crate) fn enter(&self) -> Running<'_> {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Running(self)
    }
}

/// A running call (see [`Epoch::enter`]).
pub(crate) struct Running<'a>(&'a Epoch);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}
