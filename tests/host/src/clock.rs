//! The wall clock guests see: the host's own, shifted by an offset that a
//! test can change while the app runs. Spin has no such knob; a guest
//! cannot tell the difference from a node whose clock is wrong, which is
//! what the tests that use it need to show (ids that never go backwards,
//! rate-limit windows that end).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::HostWallClock;

/// A shift of the guests' wall clock, in milliseconds, shared by every
/// request of an app (and by whoever holds a clone).
#[derive(Clone, Debug, Default)]
pub struct ClockOffset(Arc<AtomicI64>);

impl ClockOffset {
    /// Shifts the guests' clock to `ms` milliseconds from the real time.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// The current shift.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// A wall clock for one request's instance.
    pub(crate) fn clock(&self) -> ShiftedClock {
        ShiftedClock(self.clone())
    }
}

/// The host's wall clock plus an offset; before 1970 reads as 1970.
pub(crate) struct ShiftedClock(ClockOffset);

impl HostWallClock for ShiftedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let offset = self.0.get();
        let shift = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            real.saturating_add(shift)
        } else {
            real.saturating_sub(shift)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guests_clock_moves_by_the_offset() {
        let offset = ClockOffset::default();
        let clock = offset.clock();
        let real = clock.now();
        offset.set(-3_600_000);
        let behind = clock.now();
        assert!(real - behind >= Duration::from_secs(3599));
        offset.set(i64::MIN + 1);
        assert_eq!(clock.now(), Duration::ZERO);
    }
}
