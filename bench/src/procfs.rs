//! What the processes under test use, from `/proc`: their CPU time, which
//! tells what a request costs even when other work on the machine slows
//! the clock, and their threads.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The user and system CPU time that processes `pids` have used so far
/// (a process that is gone counts nothing).
pub fn used(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|pid| process(*pid)).sum()
}

fn process(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

/// utime + stime of a `/proc/<pid>/stat` line, in clock ticks: fields 14
/// and 15, counted after the command name, which may hold spaces.
fn ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// How many threads process `pid` has now.
fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Runs `work` while sampling process `pid`'s thread count every 5 ms;
/// its output, and the most threads seen.
pub async fn with_peak_threads<T>(pid: Option<u32>, work: impl Future<Output = T>) -> (T, u64) {
    let (peak, done) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(n) = pid.and_then(threads) {
                    peak.fetch_max(n, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let output = work.await;
    done.store(true, Ordering::Relaxed);
    // The sampler only reads /proc: if it failed, the peak is what it saw.
    let _ = sampler.await;
    (output, peak.load(Ordering::Relaxed))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_after_a_name_with_spaces() {
        let stat = "42 (tokio rt) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(ticks(stat), Some(325));
        assert_eq!(ticks("garbage"), None);
    }

    #[tokio::test]
    async fn the_thread_count_of_this_process_is_sampled() {
        let (answer, peak) = with_peak_threads(Some(std::process::id()), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            42
        })
        .await;
        assert_eq!(answer, 42);
        assert!(peak >= 1);
        let (_, none) = with_peak_threads(None, async {}).await;
        assert_eq!(none, 0);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let mut spin = 0_u64;
        for n in 0..5_000_000_u64 {
            spin = spin.wrapping_add(n * n);
        }
        assert!(spin > 0);
        assert!(used(&[std::process::id()]) > Duration::ZERO);
    }
}
