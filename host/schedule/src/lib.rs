//! What a schedule's spec means, as Temporal reads it: which seconds a spec matches
//! ([`CompiledSpec::next_time`]), the canonical form `DescribeSchedule` shows, and the
//! deterministic jitter Temporal adds to each nominal time. Pure computation, no I/O.

mod calendar;
mod cron;
mod spec;

pub use spec::time_of;
pub use spec::{CompiledSpec, Next};

#[cfg(test)]
mod tests;
