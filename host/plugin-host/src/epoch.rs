//! The engine's epoch, which call deadlines count in: a thread advances it every [`TICK`]
//! while plugin calls run and for [`LINGER`] after the last one, and sleeps otherwise.
//! Ticking all the time woke the process 200 times a second, idle or not (three thread
//! wake-ups per workflow under the Python SDK load, BENCHMARKS.md); stopping as soon as no call
//! ran made nearly every call wake the thread, since a call (an authorization takes a few
//! microseconds) had ended before the thread looked: 6–8 µs more per authorized request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances while calls run: the granularity of call deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// How long the thread goes on ticking after the last call: calls that come more often than
/// this find it awake, and starting one costs no wake-up.
const LINGER: Duration = Duration::from_secs(1);

/// How often the idle thread looks whether its engine is gone (then it ends).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The ticking thread, the count of calls running, and whether a call started since the
/// thread last looked.
pub(crate) struct Epoch {
    running: Arc<AtomicUsize>,
    entered: Arc<AtomicBool>,
    thread: Thread,
}

impl Epoch {
    /// Starts the thread for `engine`; it ends once the engine is dropped.
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Arc<Epoch>> {
        let running = Arc::new(AtomicUsize::new(0));
        let calls = running.clone();
        let entered = Arc::new(AtomicBool::new(false));
        let called = entered.clone();
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                let linger_ticks = LINGER.as_millis() / TICK.as_millis();
                let mut idle_ticks = linger_ticks;
                loop {
                    // A call runs, or one ran since the last look (however short).
                    if calls.load(Ordering::Acquire) > 0 || called.swap(false, Ordering::AcqRel) {
                        idle_ticks = 0;
                    } else if idle_ticks >= linger_ticks {
                        // A call that starts meanwhile unparks this thread (or has already:
                        // then this returns at once).
                        std::thread::park_timeout(IDLE_CHECK);
                        if engine.upgrade().is_none() {
                            break;
                        }
                        continue;
                    } else {
                        idle_ticks += 1;
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
        Ok(Arc::new(Epoch {
            running,
            entered,
            thread,
        }))
    }

    /// Marks a call as running until the guard drops: the epoch advances meanwhile.
    pub(crate) fn enter(&self) -> Running<'_> {
        self.entered.store(true, Ordering::Release);
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
