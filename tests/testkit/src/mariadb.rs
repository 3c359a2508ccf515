//! A real MariaDB for tests.
//!
//! [`shared`] gives the server every test in the process uses:
//! `OMNI_TEST_MYSQL_URL` (e.g. `mysql://root:pw@127.0.0.1:3306`) when set;
//! with `OMNI_TEST_BACKEND=galera`, a three-node Galera cluster through
//! HAProxy ([`crate::galera`]); otherwise a throwaway `mariadbd` (Debian's
//! `mariadb-server`) started in a temporary directory on a free port, once
//! per test process. A test that must stop its database starts its own with
//! [`MariaDb::start`].
//!
//! A throwaway server is killed, and its directory removed, when the test
//! process exits; it is also killed if the process dies (see
//! [`crate::process`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;

use anyhow::{Context, bail};
use mysql_async::prelude::Queryable;

use crate::process::{self, LogStream, is_root, next_serial, program, stop_pid};

/// A MariaDB server: the shared one, or one a test owns.
#[derive(Debug)]
pub struct MariaDb {
    /// `user:password@host:port`, without scheme or database.
    authority: String,
    /// `host:port`.
    host: String,
    /// Set for a server this process started.
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    dir: PathBuf,
    port: u16,
    pid: u32,
    /// Server options beyond the test defaults, kept for restarts.
    extra_args: Vec<String>,
}

/// The user the tests connect as, with every privilege.
pub(crate) const TEST_USER: &str = "omni";
/// Its password.
pub(crate) const TEST_PASSWORD: &str = "omni-test-password";

/// The server shared by every test in this process, started on first use.
pub fn shared() -> &'static MariaDb {
    if std::env::var("OMNI_TEST_BACKEND").as_deref() == Ok("galera") {
        return crate::galera::shared().front();
    }
    static SERVER: OnceLock<MariaDb> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("OMNI_TEST_MYSQL_URL") {
        Ok(url) => MariaDb::external(&url).unwrap_or_else(|e| panic!("OMNI_TEST_MYSQL_URL: {e:#}")),
        Err(_) => {
            MariaDb::start().unwrap_or_else(|e| panic!("cannot start MariaDB for the tests: {e:#}"))
        }
    })
}

impl MariaDb {
    /// A server this process did not start, at `url`
    /// (`mysql://user:password@host:port`).
    pub(crate) fn external(url: &str) -> anyhow::Result<Self> {
        let authority = url
            .strip_prefix("mysql://")
            .context("must start with mysql://")?
            .trim_end_matches('/')
            .to_owned();
        let host = authority
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, host)| host)
            .to_owned();
        Ok(Self {
            authority,
            host,
            process: None,
        })
    }

    /// Starts a throwaway server of this test's own.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(|dir| {
            install(dir)?;
            Ok(true)
        })
    }

    /// Starts a throwaway server whose data directory (`data` in the
    /// server's directory, which `fill` gets) `fill` makes, e.g. from a
    /// backup; `fill` returns whether the test user must still be created
    /// (a restored copy has it already).
    pub(crate) fn start_on(
        fill: impl FnOnce(&Path) -> anyhow::Result<bool>,
    ) -> anyhow::Result<Self> {
        let dir = process::scratch_dir("mariadb", "mariadbd.pid")?;
        let needs_user = fill(&dir)?;
        let (port, pid) = process::on_a_free_port(|port| launch(&dir, port, &[]))?;
        if needs_user {
            create_test_user(&dir)?;
        }
        Ok(Self {
            authority: format!("{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{port}"),
            host: format!("127.0.0.1:{port}"),
            process: Some(Process {
                dir,
                port,
                pid,
                extra_args: Vec::new(),
            }),
        })
    }

    /// `--host`, `--port` and `--user` for the MariaDB command-line tools
    /// (mariadb, mariadb-dump, mariadb-backup), and the password, which they
    /// take from `MYSQL_PWD` so that it stays off their command lines.
    pub(crate) fn client_args(&self) -> (Vec<String>, String) {
        let (credentials, host) = self
            .authority
            .rsplit_once('@')
            .unwrap_or(("", &self.authority));
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let (host, port) = host.rsplit_once(':').unwrap_or((host, "3306"));
        let args = vec![
            format!("--host={host}"),
            format!("--port={port}"),
            "--protocol=tcp".to_owned(),
            format!("--user={user}"),
        ];
        (args, password.to_owned())
    }

    /// The server's process id, if this process started it.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// `host:port`, as Omni's `db_host` variable wants it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("mysql://{}/{database}", self.authority)
    }

    /// Stops a server this test started (SIGKILL: nothing to keep).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let process = self
            .process
            .as_ref()
            .context("not a server this process started")?;
        stop_pid(process.pid);
        Ok(())
    }

    /// Starts a stopped server again, on the same port and data, with the
    /// options it last ran with.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let process = self
            .process
            .as_mut()
            .context("not a server this process started")?;
        process.pid = launch(&process.dir, process.port, &process.extra_args)?;
        Ok(())
    }

    /// Starts a stopped server again, on the same port and data, with
    /// `extra_args` (e.g. `--thread-handling=pool-of-threads`) added to
    /// the test defaults, from now on.
    pub fn restart_with(&mut self, extra_args: &[&str]) -> anyhow::Result<()> {
        let process = self
            .process
            .as_mut()
            .context("not a server this process started")?;
        process.extra_args = extra_args.iter().map(|a| (*a).to_owned()).collect();
        self.restart()
    }

    /// A connection as the test user, to `database` or to none.
    pub async fn connect(&self, database: Option<&str>) -> anyhow::Result<mysql_async::Conn> {
        let url = self.url(database.unwrap_or(""));
        Ok(mysql_async::Conn::from_url(url).await?)
    }

    /// Creates a uniquely named database with every migration applied.
    pub async fn create_database(&self) -> anyhow::Result<String> {
        let name = format!("omni_test_{}_{}", std::process::id(), next_serial());
        let mut conn = self.connect(None).await?;
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await?;
        conn.query_drop(format!("USE `{name}`")).await?;
        for (file, sql) in migrations()? {
            conn.query_drop(sql)
                .await
                .with_context(|| format!("migration {file} failed"))?;
        }
        conn.disconnect().await?;
        Ok(name)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(process) = &self.process {
            stop_pid(process.pid);
        }
    }
}

/// Every `migrations/*.up.sql`, in order.
pub fn migrations() -> anyhow::Result<Vec<(String, String)>> {
    let dir = crate::workspace_root().join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(".up.sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            Ok((name, std::fs::read_to_string(&path)?))
        })
        .collect()
}

/// The server's own directory for temporary tables, so that nothing else
/// on the machine touches them: with the shared `/tmp`, bootstraps failed
/// now and then, their temporary tables gone, while other servers ran.
fn tmpdir(dir: &Path) -> anyhow::Result<String> {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    Ok(format!("--tmpdir={}", tmp.display()))
}

/// A fresh system schema in `dir`'s data directory.
fn install(dir: &Path) -> anyhow::Result<()> {
    let mut command = Command::new(program("mariadb-install-db"));
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(tmpdir(dir)?)
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db");
    if is_root() {
        command.arg("--user=root");
    }
    let output = command.output().context(
        "cannot run mariadb-install-db: install Debian's mariadb-server, or set OMNI_TEST_MYSQL_URL",
    )?;
    if !output.status.success() {
        bail!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts `mariadbd` with the test defaults and `extra_args`, and waits
/// until its log says it is ready for connections. Returns its pid.
fn launch(dir: &Path, port: u16, extra_args: &[String]) -> anyhow::Result<u32> {
    let mut command = Command::new(program("mariadbd"));
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mariadbd.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
        .arg(tmpdir(dir)?)
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--skip-name-resolve")
        // Debian's packaged defaults; without a config file MariaDB uses latin1.
        .arg("--character-set-server=utf8mb4")
        .arg("--collation-server=utf8mb4_unicode_ci")
        .arg("--max-connections=1000")
        .arg("--innodb-buffer-pool-size=256M")
        // Throwaway data: no fsync per commit. Commits still reach the OS,
        // so they survive the SIGKILL a test uses to stop the server.
        .arg("--innodb-flush-log-at-trx-commit=2")
        .arg("--innodb-doublewrite=0")
        .args(extra_args);
    if is_root() {
        command.arg("--user=root");
    }
    process::launch(command, LogStream::Stderr, "ready for connections")
}

/// Creates the user the tests connect as, through the server's socket as
/// root. Runs on a thread of its own, because the caller may be inside an
/// async test's runtime.
fn create_test_user(dir: &Path) -> anyhow::Result<()> {
    let socket = dir.join("mariadbd.sock");
    thread::spawn(move || create_test_user_blocking(&socket))
        .join()
        .map_err(|_| anyhow::anyhow!("creating the test user panicked"))?
}

fn create_test_user_blocking(socket: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let opts = mysql_async::OptsBuilder::default()
            .user(Some("root"))
            .socket(Some(socket.to_string_lossy().into_owned()));
        let mut conn = mysql_async::Conn::new(opts).await?;
        conn.query_drop(format!(
            "CREATE USER '{TEST_USER}'@'%' IDENTIFIED BY '{TEST_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'%'"
        ))
        .await?;
        conn.disconnect().await?;
        Ok(())
    })
}
