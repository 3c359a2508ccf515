//! The faults the soak fires as it passes fixed points of the run: the
//! database fails and comes back, and a burst of contended writes.
//!
//! On one MariaDB the server is SIGKILLed and restarted: a whole outage,
//! answered with 503s. On a Galera cluster the node taking writes is
//! SIGKILLed: HAProxy moves the writes to another node, and the killed one
//! rejoins by IST.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use omni_testkit::{AppOptions, Galera, MariaDb, galera};
use serde::Serialize;
use tokio::sync::Mutex;

use super::client::Run;
use super::{OUTAGE, progress};

/// The database under the soak.
#[derive(Debug)]
pub(super) enum Database {
    /// One MariaDB.
    Single(MariaDb),
    /// A three-node Galera cluster behind HAProxy.
    Galera(Galera),
}

impl Database {
    pub(super) fn start(on_galera: bool) -> anyhow::Result<Self> {
        Ok(if on_galera {
            Self::Galera(Galera::start()?)
        } else {
            Self::Single(MariaDb::start()?)
        })
    }

    /// Where the app connects.
    pub(super) fn front(&self) -> &MariaDb {
        match self {
            Self::Single(server) => server,
            Self::Galera(cluster) => cluster.front(),
        }
    }

    /// The app's options for this database: causal reads on a cluster.
    pub(super) fn app_options(&self) -> AppOptions {
        match self {
            Self::Single(_) => AppOptions::default(),
            Self::Galera(_) => galera::app_options(),
        }
    }

    pub(super) fn describe(&self) -> &'static str {
        match self {
            Self::Single(_) => "MariaDB",
            Self::Galera(_) => "a Galera cluster",
        }
    }

    /// What fails.
    fn fault(&self) -> &'static str {
        match self {
            Self::Single(_) => "MariaDB killed and restarted",
            Self::Galera(_) => "the Galera node taking writes killed, and rejoined",
        }
    }
}

/// Kills the database (or its writing node), and brings it back after
/// [`OUTAGE`]; returns what was killed.
async fn fail_and_recover(database: &Arc<Mutex<Database>>) -> anyhow::Result<String> {
    let mut guard = database.lock().await;
    match &mut *guard {
        Database::Single(_) => {
            drop(guard);
            let database = database.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
                let mut guard = database.blocking_lock();
                let Database::Single(server) = &mut *guard else {
                    unreachable!("the database does not change kind");
                };
                server.stop()?;
                std::thread::sleep(OUTAGE);
                server.restart()?;
                Ok("MariaDB".to_owned())
            })
            .await?
        }
        Database::Galera(cluster) => {
            let writer = cluster.writer().await?;
            cluster.kill(writer);
            tokio::time::sleep(OUTAGE).await;
            cluster.restart(writer).await?;
            Ok(format!("Galera node{}", writer + 1))
        }
    }
}

/// One outage.
#[derive(Debug, Serialize)]
pub(super) struct Outage {
    /// What was killed.
    pub(super) what: String,
    /// When it was killed, in seconds since the app started.
    pub(super) killed_at_s: f64,
    /// How long it took to come back (kill, pause, restart and recovery,
    /// or the rejoin of a Galera node).
    pub(super) down_s: f64,
}

/// Fires the faults as the run passes each point: outage `k` at
/// `(k + 1/3) / faults` of the requests, burst `k` at `(k + 2/3) / faults`.
pub(super) async fn inject(
    run: Arc<Run>,
    database: Arc<Mutex<Database>>,
    requests: usize,
    faults: usize,
) -> anyhow::Result<Vec<Outage>> {
    let started = run.started;
    let mut outages = Vec::new();
    for k in 0..faults {
        let point = |third: usize| (requests * (3 * k + third)) / (3 * faults);
        wait_for(&run, point(1)).await;
        let killed_at = started.elapsed();
        let fault = database.lock().await.fault();
        progress(&format!("{fault} at request {}", point(1)));
        let what = fail_and_recover(&database).await?;
        let down = started.elapsed() - killed_at;
        progress(&format!("{what} back after {:.1}s", down.as_secs_f64()));
        outages.push(Outage {
            what,
            killed_at_s: killed_at.as_secs_f64(),
            down_s: down.as_secs_f64(),
        });
        wait_for(&run, point(2)).await;
        progress(&format!(
            "burst of contended writes at request {}",
            point(2)
        ));
        run.burst(k).await;
    }
    Ok(outages)
}

async fn wait_for(run: &Run, picked: usize) {
    while run.picked.load(Ordering::Relaxed) < picked {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
