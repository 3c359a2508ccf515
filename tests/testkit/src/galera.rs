//! A real three-node MariaDB Galera cluster for tests, on localhost.
//!
//! Debian's `mariadbd` with `galera-4`; state transfers (SST) with
//! `mariadb-backup` over `socat`, as mariadb-operator configures them
//! (`rsync` SST fails as root). In front of the nodes, HAProxy in TCP mode
//! stands in for the operator's `mariadb-primary` Service: one node takes
//! every connection, the other two are backups, and once it has moved to a
//! backup it stays there (a stick table), as the operator's primary does
//! after a failover. Each node has a health agent, like the operator's agent
//! sidecar, that answers HAProxy's check with 200 only while the node is
//! `Synced`: a node that is down, joining or donating takes no connections.
//!
//! [`shared`] is the cluster every test in the process may use (with
//! `OMNI_TEST_BACKEND=galera`, the API suite runs on it through
//! [`crate::app`]); a test that kills nodes starts its own with
//! [`Galera::start`].
//!
//! Starting: node 1 is initialised and bootstrapped alone, creates the test
//! user, and stops cleanly; nodes 2 and 3 start from copies of its data
//! directory, so they join by IST with nothing to send instead of two full
//! SSTs (mariadb-backup's donor script sleeps 10 s before each). A test that
//! wants an SST wipes a node with [`Galera::wipe`].

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mysql_async::prelude::Queryable;

use crate::app::AppOptions;
use crate::mariadb::{MariaDb, TEST_PASSWORD, TEST_USER};
use crate::process::{self, LogStream, is_root, program, stop_pid};

/// How many nodes a cluster has.
pub const NODES: usize = 3;

/// How long a node may take to become `Synced` (an SST on a loaded machine
/// takes tens of seconds).
const SYNC_TIMEOUT: Duration = Duration::from_secs(180);

/// The cluster every test in this process shares, started on first use.
pub fn shared() -> &'static Galera {
    static CLUSTER: OnceLock<Galera> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Galera::start().unwrap_or_else(|e| panic!("cannot start a Galera cluster: {e:#}"))
    })
}

/// The options of an app on a cluster: causal reads on
/// (`db_causal_reads`), as k8s/spinkube sets them, so that a client reads
/// its writes on any node and after a failover.
pub fn app_options() -> AppOptions {
    AppOptions {
        variables: vec![("db_causal_reads".to_owned(), "true".to_owned())],
        ..AppOptions::default()
    }
}

/// A running cluster of [`NODES`] nodes and HAProxy in front of them.
#[derive(Debug)]
pub struct Galera {
    nodes: Vec<Node>,
    /// Set once the nodes are up.
    proxy: Option<Proxy>,
    /// The cluster as the app sees it: through HAProxy.
    front: Option<MariaDb>,
    /// Tells the health agents to stop.
    stopping: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Node {
    /// `node1`..`node3`, Galera's `wsrep_node_name`.
    name: String,
    dir: PathBuf,
    ports: NodePorts,
    /// Set while the node runs.
    pid: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
struct NodePorts {
    sql: u16,
    /// Galera's group communication.
    gcomm: u16,
    /// Incremental state transfer.
    ist: u16,
    /// Full state transfer (mariadb-backup over socat).
    sst: u16,
    /// The health agent HAProxy checks.
    check: u16,
}

#[derive(Debug)]
struct Proxy {
    port: u16,
    pid: u32,
}

impl Galera {
    /// Starts a cluster of this test's own, waits until every node is
    /// `Synced` in a cluster of [`NODES`], and HAProxy in front of it.
    pub fn start() -> anyhow::Result<Self> {
        let mut last_error = None;
        // Ports are found free and then taken later, so another process can
        // take one in between: try a few times.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }

    fn try_start() -> anyhow::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let mut nodes = Vec::with_capacity(NODES);
        let mut ports = free_ports(NODES * 5)?.into_iter();
        let mut port = || ports.next().context("too few ports");
        for index in 0..NODES {
            let dir = process::scratch_dir("galera", "mariadbd.pid")?;
            let ports = NodePorts {
                sql: port()?,
                gcomm: port()?,
                ist: port()?,
                sst: port()?,
                check: port()?,
            };
            nodes.push(Node {
                name: format!("node{}", index + 1),
                dir,
                ports,
                pid: None,
            });
        }
        let members: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.ports.gcomm))
            .collect();
        for node in &nodes {
            std::fs::write(node.config(), node.my_cnf(&members.join(",")))?;
            std::fs::create_dir_all(node.data())?;
            std::fs::create_dir_all(node.dir.join("tmp"))?;
        }
        let mut cluster = Galera {
            nodes,
            proxy: None,
            front: None,
            stopping,
        };
        // Seed: node 1 alone, with the test user, stopped cleanly.
        install(&cluster.nodes[0])?;
        let pid = launch(&cluster.nodes[0], true)?;
        cluster.nodes[0].pid = Some(pid);
        let socket = cluster.nodes[0].socket();
        block_on(async move {
            let mut conn = root(&socket).await?;
            conn.query_drop(format!(
                "CREATE USER '{TEST_USER}'@'%' IDENTIFIED BY '{TEST_PASSWORD}'; \
                 GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'%'"
            ))
            .await?;
            // The connection ends with the server.
            let _ = conn.query_drop("SHUTDOWN").await;
            anyhow::Ok(())
        })?;
        wait_gone(pid)?;
        cluster.nodes[0].pid = None;
        for node in &cluster.nodes[1..] {
            copy_data(&cluster.nodes[0].data(), &node.data())?;
        }
        cluster.nodes[0].pid = Some(launch(&cluster.nodes[0], true)?);
        for index in 1..NODES {
            cluster.nodes[index].pid = Some(launch(&cluster.nodes[index], false)?);
        }
        for index in 0..NODES {
            cluster.wait_synced_blocking(index, NODES)?;
        }
        for node in &cluster.nodes {
            spawn_agent(node.socket(), node.ports.check, cluster.stopping.clone())?;
        }
        let proxy = start_proxy(&cluster.nodes)?;
        cluster.front = Some(MariaDb::external(&format!(
            "mysql://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{}",
            proxy.port
        ))?);
        cluster.proxy = Some(proxy);
        Ok(cluster)
    }

    /// The cluster through HAProxy, as the app connects to it: databases,
    /// URLs and `db_host` for [`crate::TestApp::spawn_on`].
    pub fn front(&self) -> &MariaDb {
        self.front
            .as_ref()
            .expect("a started cluster has its proxy")
    }

    /// The URL of `database` on node `index` itself, bypassing HAProxy.
    pub fn node_url(&self, index: usize, database: &str) -> String {
        format!(
            "mysql://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{}/{database}",
            self.nodes[index].ports.sql
        )
    }

    /// `host:port` of node `index`, as `db_host` wants it.
    pub fn node_host(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.nodes[index].ports.sql)
    }

    /// A connection as the test user to node `index`, bypassing HAProxy.
    pub async fn connect_node(
        &self,
        index: usize,
        database: Option<&str>,
    ) -> anyhow::Result<mysql_async::Conn> {
        Ok(mysql_async::Conn::from_url(self.node_url(index, database.unwrap_or(""))).await?)
    }

    /// Which node HAProxy sends connections to now.
    pub async fn writer(&self) -> anyhow::Result<usize> {
        let mut conn = self.front().connect(None).await?;
        let name: Option<String> = conn.query_first("SELECT @@wsrep_node_name").await?;
        conn.disconnect().await?;
        let name = name.context("no node name")?;
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .with_context(|| format!("unknown node {name}"))
    }

    /// Kills node `index` with SIGKILL, as a power cut or an OOM kill
    /// would, and waits until it is gone.
    pub fn kill(&mut self, index: usize) {
        if let Some(pid) = self.nodes[index].pid.take() {
            stop_pid(pid);
        }
    }

    /// Empties a stopped node's data directory, so that it rejoins by a
    /// full state transfer (SST).
    pub fn wipe(&mut self, index: usize) -> anyhow::Result<()> {
        let node = &self.nodes[index];
        if node.pid.is_some() {
            bail!("{} is running", node.name);
        }
        std::fs::remove_dir_all(node.data())?;
        std::fs::create_dir_all(node.data())?;
        Ok(())
    }

    /// Starts a stopped node again, as a member of the running cluster, and
    /// waits until it is `Synced` in a cluster of [`NODES`].
    ///
    /// Like Debian's systemd unit (`galera_recovery`), it first recovers the
    /// node's last committed position from InnoDB (`--wsrep-recover`): a
    /// node killed without a clean shutdown has none in `grastate.dat`, and
    /// without it would ask for a full SST instead of the writes it missed.
    pub async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        if self.nodes[index].pid.is_some() {
            bail!("{} is running", self.nodes[index].name);
        }
        let dir = self.nodes[index].dir.clone();
        let config = self.nodes[index].config();
        let pid = tokio::task::spawn_blocking(move || {
            let position = recover_position(&dir, &config)?;
            launch_config(&dir, &config, position.as_deref())
        })
        .await??;
        self.nodes[index].pid = Some(pid);
        self.wait_synced(index, NODES).await
    }

    /// Waits until node `index` is `Synced` in a cluster of `size` nodes.
    pub async fn wait_synced(&self, index: usize, size: usize) -> anyhow::Result<()> {
        wait_synced(self.nodes[index].socket(), size).await
    }

    fn wait_synced_blocking(&self, index: usize, size: usize) -> anyhow::Result<()> {
        let socket = self.nodes[index].socket();
        block_on(wait_synced(socket, size))
    }

    /// Waits until node `index` has applied every write the cluster
    /// committed before this call (a causal read, `wsrep_sync_wait`): right
    /// after a commit on one node, another may not have applied it yet.
    pub async fn catch_up(&self, index: usize) -> anyhow::Result<()> {
        let mut conn = root(&self.nodes[index].socket()).await?;
        conn.query_drop("SET SESSION wsrep_sync_wait = 1; SELECT 1")
            .await?;
        conn.disconnect().await?;
        Ok(())
    }

    /// Waits until the running nodes agree that the cluster has `size`
    /// members and are all `Synced` (e.g. the survivors after a kill).
    pub async fn wait_cluster_size(&self, size: usize) -> anyhow::Result<()> {
        for index in 0..NODES {
            if self.nodes[index].pid.is_some() {
                self.wait_synced(index, size).await?;
            }
        }
        Ok(())
    }

    /// A global status variable of node `index` (e.g. `wsrep_last_committed`).
    pub async fn status(&self, index: usize, name: &str) -> anyhow::Result<String> {
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            bail!("not a status variable: {name:?}");
        }
        let mut conn = root(&self.nodes[index].socket()).await?;
        let row: Option<(String, String)> = conn
            .query_first(format!("SHOW GLOBAL STATUS LIKE '{name}'"))
            .await?;
        conn.disconnect().await?;
        Ok(row.with_context(|| format!("no status {name}"))?.1)
    }

    /// Everything node `index` has logged since the cluster started.
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(self.nodes[index].dir.join("mariadbd.log")).unwrap_or_default()
    }

    /// The process id of node `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].pid
    }

    /// The nodes' process ids and HAProxy's, for CPU accounting.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.pid)
            .chain(self.proxy.as_ref().map(|p| p.pid))
            .collect()
    }
}

impl Drop for Galera {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(proxy) = &self.proxy {
            stop_pid(proxy.pid);
        }
        for node in &mut self.nodes {
            if let Some(pid) = node.pid.take() {
                stop_pid(pid);
            }
        }
    }
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("mariadbd.sock")
    }

    /// The node's whole configuration: the testkit's usual server options,
    /// Galera as mariadb-operator configures it (row binlog format,
    /// interleaved auto-increment locks, mariabackup SST), and the wsrep_mode
    /// of k8s/spinkube/mariadb.yaml.
    fn my_cnf(&self, members: &str) -> String {
        let NodePorts {
            sql,
            gcomm,
            ist,
            sst,
            ..
        } = self.ports;
        let dir = self.dir.display();
        let user = if is_root() { "user=root\n" } else { "" };
        format!(
            "[mysqld]\n\
             {user}\
             datadir={dir}/data\n\
             socket={dir}/mariadbd.sock\n\
             pid-file={dir}/mariadbd.pid\n\
             # Its own directory for temporary tables and the SST's files:\n\
             # other servers on the machine clean the shared /tmp.\n\
             tmpdir={dir}/tmp\n\
             port={sql}\n\
             bind-address=127.0.0.1\n\
             skip-name-resolve\n\
             character-set-server=utf8mb4\n\
             collation-server=utf8mb4_unicode_ci\n\
             max-connections=1000\n\
             innodb-buffer-pool-size=96M\n\
             # Throwaway data: no fsync per commit. Commits still reach the OS,\n\
             # so they survive the SIGKILL a test uses to stop a node.\n\
             innodb-flush-log-at-trx-commit=2\n\
             innodb-doublewrite=0\n\
             binlog-format=ROW\n\
             innodb-autoinc-lock-mode=2\n\
             default-storage-engine=InnoDB\n\
             wsrep-on=ON\n\
             wsrep-provider=/usr/lib/galera/libgalera_smm.so\n\
             wsrep-cluster-name=omni-test\n\
             wsrep-cluster-address=gcomm://{members}\n\
             wsrep-node-name={name}\n\
             wsrep-node-address=127.0.0.1:{gcomm}\n\
             wsrep-node-incoming-address=127.0.0.1:{sql}\n\
             wsrep-provider-options=\"gmcast.listen_addr=tcp://127.0.0.1:{gcomm};ist.recv_addr=127.0.0.1:{ist};gcache.size=64M\"\n\
             wsrep-sst-method=mariabackup\n\
             wsrep-sst-auth=root:\n\
             wsrep-sst-receive-address=127.0.0.1:{sst}\n\
             wsrep-mode=REQUIRED_PRIMARY_KEY,STRICT_REPLICATION\n\
             [sst]\n\
             # The SST script's own output goes to the node's log, not syslog.\n\
             sst-syslog=-1\n",
            name = self.name,
        )
    }
}

/// `n` distinct ports that nothing listens on right now. Another process
/// can take one before a node does, so [`Galera::start`] retries.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// A fresh system schema in node 1's data directory.
fn install(node: &Node) -> anyhow::Result<()> {
    let output = Command::new(program("mariadb-install-db"))
        .arg(format!("--defaults-file={}", node.config().display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .output()
        .context("cannot run mariadb-install-db: install Debian's mariadb-server")?;
    if !output.status.success() {
        bail!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts node 1 of a new cluster (`bootstrap`), or a node that joins one.
fn launch(node: &Node, bootstrap: bool) -> anyhow::Result<u32> {
    let mut command = Command::new(program("mariadbd"));
    command.arg(format!("--defaults-file={}", node.config().display()));
    if bootstrap {
        command.arg("--wsrep-new-cluster");
    }
    start(command, &node.dir)
}

/// Starts a node that joins the running cluster from `position`
/// (`uuid:seqno`, if known).
fn launch_config(dir: &Path, config: &Path, position: Option<&str>) -> anyhow::Result<u32> {
    let mut command = Command::new(program("mariadbd"));
    command.arg(format!("--defaults-file={}", config.display()));
    if let Some(position) = position {
        command.arg(format!("--wsrep-start-position={position}"));
    }
    start(command, dir)
}

/// Runs `mariadbd --wsrep-recover`, which reads the last committed Galera
/// position (`uuid:seqno`) from InnoDB and exits. `None` for an empty data
/// directory (the node will need an SST anyway).
fn recover_position(dir: &Path, config: &Path) -> anyhow::Result<Option<String>> {
    if !dir.join("data").join("mysql").is_dir() {
        return Ok(None);
    }
    let log = dir.join("wsrep-recover.log");
    let _ = std::fs::remove_file(&log);
    let status = Command::new(program("mariadbd"))
        .arg(format!("--defaults-file={}", config.display()))
        .arg("--wsrep-recover")
        .arg(format!("--log-error={}", log.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("cannot run mariadbd --wsrep-recover")?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        bail!("mariadbd --wsrep-recover failed:\n{text}");
    }
    Ok(text
        .lines()
        .find_map(|line| line.split_once("WSREP: Recovered position: "))
        .map(|(_, position)| position.trim().to_owned())
        .filter(|position| !position.ends_with(":-1")))
}

/// Starts `command` (a `mariadbd`), its log appended to `dir/mariadbd.log`,
/// and waits until it is ready for connections (after any state transfer).
fn start(command: Command, dir: &Path) -> anyhow::Result<u32> {
    process::launch_logged(
        command,
        LogStream::Stderr,
        "ready for connections",
        Some(&dir.join("mariadbd.log")),
    )
}

/// Copies a cleanly stopped node's data directory to another node's, which
/// then has the same Galera state and joins without a full transfer. Its
/// gcache and view are its own; only the seed may bootstrap.
fn copy_data(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in walk(from)? {
        let relative = entry.strip_prefix(from)?;
        let name = relative.to_string_lossy();
        if name == "galera.cache" || name == "gvwstate.dat" {
            continue;
        }
        let target = to.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)?;
        } else {
            std::fs::copy(&entry, &target)?;
        }
    }
    let state = to.join("grastate.dat");
    let text = std::fs::read_to_string(&state).context("the seed left no grastate.dat")?;
    std::fs::write(
        state,
        text.replace("safe_to_bootstrap: 1", "safe_to_bootstrap: 0"),
    )?;
    Ok(())
}

/// Every file and directory under `dir`, parents first.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        found.push(path.clone());
        if path.is_dir() {
            found.extend(walk(&path)?);
        }
    }
    Ok(found)
}

/// Waits until `pid` has exited (a clean shutdown takes a moment).
fn wait_gone(pid: u32) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let Ok(signalled) = libc::pid_t::try_from(pid) else {
        return Ok(());
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    while unsafe { libc::kill(signalled, 0) } == 0 {
        if Instant::now() > deadline {
            bail!("mariadbd {pid} did not shut down");
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A connection as root through a node's socket.
async fn root(socket: &Path) -> anyhow::Result<mysql_async::Conn> {
    let opts = mysql_async::OptsBuilder::default()
        .user(Some("root"))
        .socket(Some(socket.to_string_lossy().into_owned()));
    Ok(mysql_async::Conn::new(opts).await?)
}

/// The node behind `socket`'s Galera status: `wsrep_local_state_comment`,
/// `wsrep_ready`, `wsrep_cluster_size` and `wsrep_cluster_status`.
async fn wsrep_status(socket: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut conn = root(socket).await?;
    let rows = conn
        .query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', \
             'wsrep_ready', 'wsrep_cluster_size', 'wsrep_cluster_status')",
        )
        .await?;
    conn.disconnect().await?;
    Ok(rows)
}

/// Whether the node behind `socket` is `Synced` and ready: in a cluster of
/// `size` nodes if given, else in a primary component of any size (a node
/// that lost its peers is not).
async fn is_synced_in(socket: &Path, size: Option<usize>) -> anyhow::Result<bool> {
    let rows = wsrep_status(socket).await?;
    let get = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(get("wsrep_local_state_comment") == Some("Synced")
        && get("wsrep_ready") == Some("ON")
        && match size {
            Some(size) => get("wsrep_cluster_size") == Some(&size.to_string()),
            None => get("wsrep_cluster_status") == Some("Primary"),
        })
}

/// Whether the node behind `socket` is `Synced` in a cluster of `size`.
async fn is_synced(socket: &Path, size: usize) -> anyhow::Result<bool> {
    is_synced_in(socket, Some(size)).await
}

async fn wait_synced(socket: PathBuf, size: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let error = match is_synced(&socket, size).await {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e) => Some(e),
        };
        if Instant::now() > deadline {
            bail!(
                "{} is not Synced in a cluster of {size} after {SYNC_TIMEOUT:?}{}",
                socket.display(),
                error.map(|e| format!(": {e:#}")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `future` to completion on a runtime of its own, on a thread of its
/// own, so that blocking callers work inside an async test too.
fn block_on<T: Send + 'static>(
    future: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(future)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the database thread panicked"))?
}

/// The node's health agent, like mariadb-operator's agent sidecar: an HTTP
/// endpoint on `port` that answers 200 while the node is `Synced` and 503
/// otherwise (down, joining, donating). HAProxy checks it.
fn spawn_agent(socket: PathBuf, port: u16, stopping: Arc<AtomicBool>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the health agent");
        while !stopping.load(Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(20));
                continue;
            };
            let synced = runtime
                .block_on(async {
                    tokio::time::timeout(Duration::from_secs(2), is_node_synced(&socket)).await
                })
                .unwrap_or(false);
            let _ = answer(stream, synced);
        }
    });
    Ok(())
}

/// Synced in a primary component of any size (a node that lost its peers
/// is not).
async fn is_node_synced(socket: &Path) -> bool {
    is_synced_in(socket, None).await.unwrap_or(false)
}

fn answer(stream: std::net::TcpStream, synced: bool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    // The request line and headers, up to the blank line.
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let status = if synced {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// HAProxy in TCP mode: node 1 active, nodes 2 and 3 backups, checked
/// through their agents every 200 ms. A node is out after two failed
/// checks and back after three good ones. The stick table keeps every
/// connection on the node it chose until that node fails, so writes do not
/// move back when node 1 returns (the operator's primary does not either).
/// Sessions on a node marked down are cut at once.
fn start_proxy(nodes: &[Node]) -> anyhow::Result<Proxy> {
    let dir = process::scratch_dir("haproxy", "haproxy.pid")?;
    let (port, pid) = process::on_a_free_port(|port| {
        let mut config = format!(
            "global\n    maxconn 4000\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n    timeout server 1h\n    retries 2\n\
             listen galera\n    bind 127.0.0.1:{port}\n    maxconn 3000\n\
             \x20   option httpchk\n    http-check expect status 200\n\
             \x20   stick-table type integer size 1\n    stick on int(1)\n\
             \x20   default-server inter 200ms fall 2 rise 3 on-marked-down shutdown-sessions\n"
        );
        for (index, node) in nodes.iter().enumerate() {
            config.push_str(&format!(
                "    server {} 127.0.0.1:{} check port {}{}\n",
                node.name,
                node.ports.sql,
                node.ports.check,
                if index == 0 { "" } else { " backup" }
            ));
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config)?;
        // -V prints the start to stdout and the checks' verdicts to stderr:
        // one stream for both, in the log.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"exec "$0" -f "$1" -db -V -p "$2" 2>&1"#)
            .arg(program("haproxy"))
            .arg(&path)
            .arg(dir.join("haproxy.pid"));
        process::launch_logged(
            command,
            LogStream::Stdout,
            "Using epoll()",
            Some(&dir.join("haproxy.log")),
        )
    })
    .context("cannot start HAProxy: install Debian's haproxy")?;
    wait_for_listener(port)?;
    Ok(Proxy { port, pid })
}

fn wait_for_listener(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("HAProxy does not listen on {port}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
