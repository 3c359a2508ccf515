//! What each component has done: counters the tests and benchmarks read
//! through [`crate::RunningApp::stats`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters per component, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    components: HashMap<String, Counters>,
}

/// One component's live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub compile: Duration,
    pub pre_instantiate: Duration,
    pub requests: AtomicU64,
    pub statements: AtomicU64,
    pub instantiations: AtomicU64,
    pub instantiate_nanos: AtomicU64,
    pub peak_memory_max: AtomicU64,
    pub peak_memory_total: AtomicU64,
    pub fuel: AtomicU64,
}

/// One component's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComponentStats {
    /// Compiling the `.wasm` (zero if this process had compiled it before).
    pub compile: Duration,
    /// Pre-instantiating it: linking its imports.
    pub pre_instantiate: Duration,
    /// Requests routed to it.
    pub requests: u64,
    /// Database statements it ran: MySQL `query` and `execute`, SQLite
    /// `execute`.
    pub statements: u64,
    /// Instances created, and the time that took in all.
    pub instantiations: u64,
    /// Time spent creating instances, in all.
    pub instantiate_total: Duration,
    /// The most linear memory one request's instance reached, in bytes.
    pub peak_memory_max: u64,
    /// The peak linear memory of every finished request, summed.
    pub peak_memory_total: u64,
    /// Fuel (about one unit per wasm instruction) consumed by finished
    /// requests, in all; 0 unless the app counts fuel.
    pub fuel: u64,
}

impl Stats {
    /// The counters of component `id` (zero if it does not run).
    pub fn component(&self, id: &str) -> ComponentStats {
        self.components
            .get(id)
            .map_or_else(ComponentStats::default, |c| ComponentStats {
                compile: c.compile,
                pre_instantiate: c.pre_instantiate,
                requests: c.requests.load(Ordering::Relaxed),
                statements: c.statements.load(Ordering::Relaxed),
                instantiations: c.instantiations.load(Ordering::Relaxed),
                instantiate_total: Duration::from_nanos(
                    c.instantiate_nanos.load(Ordering::Relaxed),
                ),
                peak_memory_max: c.peak_memory_max.load(Ordering::Relaxed),
                peak_memory_total: c.peak_memory_total.load(Ordering::Relaxed),
                fuel: c.fuel.load(Ordering::Relaxed),
            })
    }

    pub(crate) fn counters(&self, id: &str) -> Option<&Counters> {
        self.components.get(id)
    }

    pub(crate) fn insert(&mut self, id: String, counters: Counters) {
        self.components.insert(id, counters);
    }
}
