//! Backups as production takes them, and restores into a fresh server:
//!
//! - physical, with mariadb-backup, as mariadb-operator's `PhysicalBackup`
//!   does (k8s/spinkube/mariadb.yaml): a consistent copy of the running
//!   server's files, streamed as xbstream and gzipped into one file; restored
//!   by unpacking, `--prepare` and `--copy-back` into an empty data
//!   directory, as the operator's `bootstrapFrom` does;
//! - logical, with mariadb-dump, as the operator's `Backup` does
//!   (`--single-transaction --skip-add-locks`, gzipped); restored by loading
//!   it with the `mariadb` client, as its `Restore` does.
//!
//! Both run while the server takes writes, and neither blocks them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::mariadb::MariaDb;
use crate::process::program;

/// A physical backup: one gzipped xbstream file.
#[derive(Debug)]
pub struct PhysicalBackup {
    dir: tempfile::TempDir,
}

/// A logical backup of one database: one gzipped SQL file.
#[derive(Debug)]
pub struct LogicalBackup {
    dir: tempfile::TempDir,
}

impl MariaDb {
    /// Takes a physical backup of the whole server with mariadb-backup.
    pub fn physical_backup(&self) -> anyhow::Result<PhysicalBackup> {
        let backup = PhysicalBackup {
            dir: tempfile::Builder::new()
                .prefix("omni-physical-backup-")
                .tempdir()?,
        };
        let (args, password) = self.client_args();
        pipe(
            &format!(
                "{} --no-defaults --backup --stream=xbstream {} | gzip -1",
                quote(&program("mariadb-backup")),
                args.join(" ")
            ),
            None,
            Some(&backup.file()),
            &password,
        )
        .context("mariadb-backup --backup failed")?;
        Ok(backup)
    }

    /// Takes a logical backup of `database` with mariadb-dump.
    pub fn logical_backup(&self, database: &str) -> anyhow::Result<LogicalBackup> {
        let backup = LogicalBackup {
            dir: tempfile::Builder::new()
                .prefix("omni-logical-backup-")
                .tempdir()?,
        };
        let (args, password) = self.client_args();
        pipe(
            &format!(
                "{} --no-defaults {} --single-transaction --skip-add-locks --events --routines \
                 --databases {} | gzip -1",
                quote(&program("mariadb-dump")),
                args.join(" "),
                quote(Path::new(database))
            ),
            None,
            Some(&backup.file()),
            &password,
        )
        .context("mariadb-dump failed")?;
        Ok(backup)
    }
}

impl PhysicalBackup {
    fn file(&self) -> PathBuf {
        self.dir.path().join("backup.xb.gz")
    }

    /// The backup's size in bytes, compressed.
    pub fn bytes(&self) -> anyhow::Result<u64> {
        Ok(std::fs::metadata(self.file())?.len())
    }

    /// Unpacks and prepares the backup (replays the redo log copied along
    /// with the files, so they are consistent), into a directory of its
    /// own. Done once; [`PhysicalBackup::restore`] does it if needed.
    pub fn prepare(&self) -> anyhow::Result<()> {
        if self.prepared() {
            return Ok(());
        }
        let unpacked = self.dir.path().join("unpacked");
        std::fs::create_dir_all(&unpacked)?;
        pipe(
            &format!(
                "gunzip -c | {} -x -C {}",
                quote(&program("mbstream")),
                quote(&unpacked)
            ),
            Some(&self.file()),
            None,
            "",
        )
        .context("unpacking the backup failed")?;
        run(Command::new(program("mariadb-backup"))
            .arg("--no-defaults")
            .arg("--prepare")
            .arg(format!("--target-dir={}", unpacked.display())))
        .context("mariadb-backup --prepare failed")?;
        std::fs::write(self.dir.path().join("prepared"), "")?;
        Ok(())
    }

    fn prepared(&self) -> bool {
        self.dir.path().join("prepared").is_file()
    }

    /// A fresh throwaway server on a copy of the backup.
    pub fn restore(&self) -> anyhow::Result<MariaDb> {
        self.prepare()?;
        let unpacked = self.dir.path().join("unpacked");
        MariaDb::start_on(|dir| {
            run(Command::new(program("mariadb-backup"))
                .arg("--no-defaults")
                .arg("--copy-back")
                .arg(format!("--target-dir={}", unpacked.display()))
                .arg(format!("--datadir={}", dir.join("data").display())))
            .context("mariadb-backup --copy-back failed")?;
            // The copy has the backed-up server's users, the test user too.
            Ok(false)
        })
    }
}

impl LogicalBackup {
    fn file(&self) -> PathBuf {
        self.dir.path().join("backup.sql.gz")
    }

    /// The backup's size in bytes, compressed.
    pub fn bytes(&self) -> anyhow::Result<u64> {
        Ok(std::fs::metadata(self.file())?.len())
    }

    /// A fresh throwaway server with the backup loaded.
    pub fn restore(&self) -> anyhow::Result<MariaDb> {
        let server = MariaDb::start()?;
        let (args, password) = server.client_args();
        pipe(
            &format!(
                "gunzip -c | {} --no-defaults {}",
                quote(&program("mariadb")),
                args.join(" ")
            ),
            Some(&self.file()),
            None,
            &password,
        )
        .context("loading the dump failed")?;
        Ok(server)
    }
}

/// Runs a shell pipeline (failing if any part fails), with stdin from
/// `input` and stdout to `output` when given, and `MYSQL_PWD` set.
fn pipe(
    pipeline: &str,
    input: Option<&Path>,
    output: Option<&Path>,
    password: &str,
) -> anyhow::Result<()> {
    let mut command = Command::new("bash");
    command
        .arg("-o")
        .arg("pipefail")
        .arg("-c")
        .arg(pipeline)
        .env("MYSQL_PWD", password);
    if let Some(input) = input {
        command.stdin(std::fs::File::open(input)?);
    }
    if let Some(output) = output {
        command.stdout(std::fs::File::create(output)?);
    }
    run(&mut command)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .stderr(std::process::Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// `path` quoted for the shell.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
