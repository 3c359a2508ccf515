//! Throwaway server processes for tests ([`crate::mariadb`],
//! [`crate::redis`]): a scratch directory and a free port each, started
//! and awaited on a log line rather than a timer, and killed with the test
//! process, even when that process is killed (`PR_SET_PDEATHSIG`). Their
//! directories are removed, and any server still running from them killed,
//! when the process exits.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;

use anyhow::{Context, bail};

/// A fresh directory `<tmp>/omni-<name>-<pid>-<serial>`, removed at exit
/// after the server whose pid is in its `pid_file` is killed.
pub(crate) fn scratch_dir(name: &str, pid_file: &str) -> anyhow::Result<PathBuf> {
    sweep_stale(name, pid_file);
    let dir = std::env::temp_dir().join(format!(
        "omni-{name}-{}-{}",
        std::process::id(),
        next_serial()
    ));
    std::fs::create_dir_all(&dir)?;
    register_cleanup(&dir, pid_file);
    Ok(dir)
}

/// Removes the scratch directories of test processes that died without
/// running their exit handler (killed by a timeout, say), which would
/// otherwise fill the disk a server's data at a time. A directory goes only
/// when neither the process that made it nor the server in its pid file is
/// alive (the server dies with its test process, see
/// [`spawn_tied_to_process`]).
fn sweep_stale(name: &str, pid_file: &str) {
    let prefix = format!("omni-{name}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some((owner, serial)) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        let (Ok(owner), Ok(_)) = (owner.parse::<u32>(), serial.parse::<u64>()) else {
            continue;
        };
        let server = std::fs::read_to_string(entry.path().join(pid_file))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if !is_alive(owner) && !server.is_some_and(is_alive) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process `pid` exists (including one this user may not signal).
fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A number unique in this process.
pub(crate) fn next_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// Runs `launch` with a port nothing listens on, and returns the port and
/// what `launch` returned. The port is found by binding and releasing it,
/// so another process can take it in between; a few are tried.
pub(crate) fn on_a_free_port<T>(
    mut launch: impl FnMut(u16) -> anyhow::Result<T>,
) -> anyhow::Result<(u16, T)> {
    let mut last_error = None;
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        match launch(port) {
            Ok(launched) => return Ok((port, launched)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `name` from PATH, or from `/usr/sbin` (where Debian puts `mariadbd`,
/// and which a non-root PATH often lacks).
pub(crate) fn program(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if !on_path && sbin.is_file() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

/// Which of a server's outputs carries its log.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LogStream {
    Stdout,
    Stderr,
}

/// Starts `command` and waits until a line of its log contains `ready`.
/// Returns its pid. The log is drained afterwards so the server never
/// blocks on a full pipe; if the server exits first, the error holds what
/// it logged.
pub(crate) fn launch(mut command: Command, log: LogStream, ready: &str) -> anyhow::Result<u32> {
    command.stdin(Stdio::null());
    match log {
        LogStream::Stdout => command.stdout(Stdio::piped()).stderr(Stdio::null()),
        LogStream::Stderr => command.stdout(Stdio::null()).stderr(Stdio::piped()),
    };
    let name = command.get_program().to_string_lossy().into_owned();
    let mut child = spawn_tied_to_process(command)?;
    let pid = child.id();
    let output: Box<dyn Read + Send> = match log {
        LogStream::Stdout => Box::new(child.stdout.take().context("no stdout pipe")?),
        LogStream::Stderr => Box::new(child.stderr.take().context("no stderr pipe")?),
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let marker = ready.to_owned();
    thread::spawn(move || {
        let mut log = Vec::new();
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if let Some(tx) = ready_tx.take_if(|_| line.contains(&marker)) {
                let _ = tx.send(Ok(()));
            } else if ready_tx.is_some() {
                log.push(line);
            }
        }
        if let Some(tx) = ready_tx {
            let _ = tx.send(Err(log.join("\n")));
        }
    });
    let outcome = ready_rx
        .recv()
        .unwrap_or_else(|_| Err("the log reader stopped".into()));
    // The child is reaped by the thread that waits on it.
    thread::spawn(move || {
        let _ = child.wait();
    });
    match outcome {
        Ok(()) => Ok(pid),
        Err(log) => bail!("{name} did not start:\n{log}"),
    }
}

/// Spawns `command` from a thread that lives as long as the process, with
/// `PR_SET_PDEATHSIG`, so the child dies with the test process even when
/// that process is killed. (The signal follows the spawning thread, which
/// is why test threads, which end, must not spawn it.)
fn spawn_tied_to_process(command: Command) -> anyhow::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::spawn(move || {
            for (mut command, reply) in rx {
                use std::os::unix::process::CommandExt;
                // SAFETY: prctl is async-signal-safe, as pre_exec requires.
                unsafe {
                    command.pre_exec(|| {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send((command, reply_tx))
        .context("the spawner thread is gone")?;
    Ok(reply_rx.recv().context("the spawner thread is gone")??)
}

/// Kills `pid` (SIGKILL: a throwaway server keeps nothing worth saving)
/// and waits, up to 10 s, until it is gone, so that a restart finds its
/// port and data files free. (The thread that spawned it reaps it.)
pub(crate) fn stop_pid(pid: u32) {
    let Ok(signalled) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(signalled, libc::SIGKILL) } != 0 {
        return;
    }
    for _ in 0..1000 {
        if !is_alive(pid) {
            return;
        }
        thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Sends `signal` (e.g. `libc::SIGSTOP` to freeze a server, `libc::SIGCONT`
/// to let it go on) to process `pid`.
pub(crate) fn signal_pid(pid: u32, signal: libc::c_int) -> anyhow::Result<()> {
    let signalled = libc::pid_t::try_from(pid)?;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(signalled, signal) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot signal process {pid}"));
    }
    Ok(())
}

/// Directories to remove when the process exits, each with the pid file
/// of the server that ran in it.
static CLEANUP: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

fn register_cleanup(dir: &Path, pid_file: &str) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        extern "C" fn at_exit() {
            let dirs = std::mem::take(&mut *CLEANUP.lock().unwrap_or_else(PoisonError::into_inner));
            for (dir, pid_file) in dirs {
                if let Ok(pid) = std::fs::read_to_string(dir.join(pid_file))
                    && let Ok(pid) = pid.trim().parse()
                {
                    stop_pid(pid);
                }
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // SAFETY: registering a plain function with no captured state.
        unsafe {
            libc::atexit(at_exit);
        }
    });
    CLEANUP
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((dir.to_owned(), pid_file.to_owned()));
}
