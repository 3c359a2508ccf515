//! The host's log: component stdout and stderr, line by line, each prefixed
//! with the component id, plus the host's own messages. Kept in memory for
//! tests to read, and echoed to stderr when asked.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A shared log. Cloning gives another handle to the same log.
#[derive(Clone, Debug)]
pub struct Logs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lines: Mutex<Vec<String>>,
    echo: bool,
    keep: bool,
}

impl Logs {
    /// A log echoed to the host's stderr and not kept.
    pub fn stderr() -> Self {
        Self::new(true, false)
    }

    /// A log kept in memory (see [`Logs::lines`]) and not echoed.
    pub fn captured() -> Self {
        Self::new(false, true)
    }

    fn new(echo: bool, keep: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                lines: Mutex::new(Vec::new()),
                echo,
                keep,
            }),
        }
    }

    /// Adds one line from `source` (a component id, or `host`).
    pub fn line(&self, source: &str, line: &str) {
        let line = format!("[{source}] {line}");
        if self.inner.echo {
            // A closed stderr must not take the host down.
            let _ = writeln!(io::stderr(), "{line}");
        }
        if self.inner.keep {
            self.inner
                .lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    }

    /// Every line kept so far.
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A WASI stdout/stderr that writes into this log as `source`.
    pub fn stream(&self, source: &str) -> ComponentOutput {
        ComponentOutput {
            logs: self.clone(),
            source: source.to_owned(),
        }
    }
}

/// A component's stdout or stderr.
#[derive(Debug)]
pub struct ComponentOutput {
    logs: Logs,
    source: String,
}

impl IsTerminal for ComponentOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ComponentOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            logs: self.logs.clone(),
            source: self.source.clone(),
            pending: Vec::new(),
        })
    }
}

/// Splits written bytes into lines; a partial last line is written when the
/// stream is dropped (the instance ends).
struct LineWriter {
    logs: Logs,
    source: String,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit_complete_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            self.logs.line(&self.source, text.trim_end_matches('\r'));
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.emit_complete_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.logs.line(&self.source, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn output_is_split_into_prefixed_lines() {
        let logs = Logs::captured();
        let mut out = Pin::from(logs.stream("signup").async_stream());
        out.write_all(b"first\nsec").await.unwrap();
        out.write_all(b"ond\r\nthird").await.unwrap();
        drop(out);
        assert_eq!(
            logs.lines(),
            ["[signup] first", "[signup] second", "[signup] third"]
        );
    }
}
