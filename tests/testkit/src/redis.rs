//! A real Redis for tests.
//!
//! [`shared`] gives the server every test in the process uses:
//! `OMNI_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`) when set, otherwise
//! a throwaway `redis-server` (Debian's `redis-server`) started in a
//! temporary directory on a free port, once per test process. A test that
//! must stop its server, or that lists keys (Spin's Redis store lists every
//! key of the database), starts its own with [`Redis::start`].
//!
//! A throwaway server keeps its data in an append-only file, so a restart
//! after [`Redis::stop`] finds it again. [`Redis::freeze`] and
//! [`Redis::resume`] SIGSTOP and SIGCONT it. It is killed, and its directory
//! removed, when the test process exits (see [`crate::process`]).
//!
//! A test that needs to know when a client is waiting for a stopped Redis
//! stops it with [`Redis::stop_and_watch_its_port`] instead: the test then
//! sees the client's reconnection arrive, and hands it to Redis once Redis
//! is back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};

use crate::process::{self, LogStream, program, signal_pid, stop_pid};

/// A Redis server: the shared one, or one a test owns.
#[derive(Debug)]
pub struct Redis {
    /// `redis://host:port`.
    url: String,
    /// Set for a server this process started.
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    dir: PathBuf,
    port: u16,
    pid: u32,
}

/// The server shared by every test in this process, started on first use.
pub fn shared() -> &'static Redis {
    static SERVER: OnceLock<Redis> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("OMNI_TEST_REDIS_URL") {
        Ok(url) => Redis {
            url: url.trim_end_matches('/').to_owned(),
            process: None,
        },
        Err(_) => {
            Redis::start().unwrap_or_else(|e| panic!("cannot start Redis for the tests: {e:#}"))
        }
    })
}

impl Redis {
    /// Starts a throwaway server of this test's own.
    pub fn start() -> anyhow::Result<Self> {
        let dir = process::scratch_dir("redis", "redis.pid")?;
        let (port, pid) = process::on_a_free_port(|port| launch(&dir, port))?;
        Ok(Self {
            url: format!("redis://127.0.0.1:{port}"),
            process: Some(Process { dir, port, pid }),
        })
    }

    /// The server's process id, if this process started it.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// `redis://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes a Spin runtime config file into `dir` that puts the `default`
    /// key-value store on this server, and returns its path.
    pub fn runtime_config(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("runtime-config.toml");
        std::fs::write(
            &path,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                self.url
            ),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Stops a server this test started (SIGKILL).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let process = self
            .process
            .as_ref()
            .context("not a server this process started")?;
        stop_pid(process.pid);
        Ok(())
    }

    /// Stops a server this test started, and listens on its port in its
    /// place, so that the test sees the first connection a client makes
    /// while Redis is down.
    pub async fn stop_and_watch_its_port(&mut self) -> anyhow::Result<Outage<'_>> {
        self.stop()?;
        let port = self.port();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on the stopped server's port {port}"))?;
        Ok(Outage {
            redis: self,
            listener,
        })
    }

    /// Freezes a server this test started (SIGSTOP): its kernel still
    /// accepts connections and data, but nothing answers until
    /// [`Redis::resume`].
    pub fn freeze(&self) -> anyhow::Result<()> {
        signal_pid(self.own_pid()?, libc::SIGSTOP)
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn resume(&self) -> anyhow::Result<()> {
        signal_pid(self.own_pid()?, libc::SIGCONT)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(6379)
    }

    fn own_pid(&self) -> anyhow::Result<u32> {
        self.pid().context("not a server this process started")
    }

    /// Starts a stopped server again, on the same port and data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let process = self
            .process
            .as_mut()
            .context("not a server this process started")?;
        process.pid = launch(&process.dir, process.port)?;
        Ok(())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(process) = &self.process {
            stop_pid(process.pid);
        }
    }
}

/// A stopped server whose port the test listens on.
#[derive(Debug)]
pub struct Outage<'a> {
    redis: &'a mut Redis,
    listener: TcpListener,
}

impl<'a> Outage<'a> {
    /// Waits for a client to connect, as one that reconnects does, and holds
    /// the connection unanswered: to the client, Redis has not answered yet.
    /// Fails after a minute, far beyond the second or two a reconnection
    /// takes to arrive.
    pub async fn client_connects(self) -> anyhow::Result<HeldClient<'a>> {
        let (client, _) = tokio::time::timeout(Duration::from_secs(60), self.listener.accept())
            .await
            .context("no client connected within a minute")??;
        Ok(HeldClient {
            redis: self.redis,
            client,
        })
    }
}

/// A client's connection, held while its server is down.
#[derive(Debug)]
pub struct HeldClient<'a> {
    redis: &'a mut Redis,
    client: TcpStream,
}

impl HeldClient<'_> {
    /// Starts the server again and joins the held connection to it: what the
    /// client sent, and sends from now on, reaches Redis as if Redis had just
    /// come back and accepted it.
    pub async fn restart_redis(self) -> anyhow::Result<()> {
        let Self { redis, mut client } = self;
        tokio::task::block_in_place(|| redis.restart())?;
        let mut server = TcpStream::connect(("127.0.0.1", redis.port())).await?;
        tokio::spawn(async move {
            // Either side closing ends the joined connection; nothing to report.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
        Ok(())
    }
}

/// Starts `redis-server` and waits until its log says it is ready for
/// connections. Returns its pid.
fn launch(dir: &Path, port: u16) -> anyhow::Result<u32> {
    let mut command = Command::new(program("redis-server"));
    command
        .arg("--port")
        .arg(port.to_string())
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--dir")
        .arg(dir)
        .arg("--pidfile")
        .arg(dir.join("redis.pid"))
        .args(["--daemonize", "no", "--save", ""])
        // Every write reaches the OS before its reply, so it survives the
        // SIGKILL that stops the server.
        .args(["--appendonly", "yes", "--appendfsync", "no"]);
    process::launch(command, LogStream::Stdout, "Ready to accept connections").context(
        "install Debian's redis-server, or set OMNI_TEST_REDIS_URL to use a running server",
    )
}
