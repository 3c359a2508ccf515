//! A small HTTP/1.1 server for tests of outbound HTTP: each request gets the
//! [`Reply`] a test's function picks, including ones that misbehave on
//! purpose (never answering, stalling mid-body, answering only when the
//! test says so). It records what it received, and how many connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

/// What the server does with a request.
#[derive(Debug)]
pub enum Reply {
    /// A whole response: status, headers, body.
    Full {
        /// The status code.
        status: u16,
        /// Headers besides `content-length`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Reads the request and never answers.
    Silent,
    /// Answers `reply` once [`HttpServer::release`] is called.
    WhenReleased(Box<Reply>),
    /// Sends the head, announcing `length` bytes, and `sent` of them, then
    /// stalls.
    Stall {
        /// The announced `content-length`.
        length: usize,
        /// The bytes actually sent.
        sent: Vec<u8>,
    },
}

impl Reply {
    /// 200 with a text body.
    pub fn text(body: &str) -> Self {
        Self::Full {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::Full {
            status,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (by `content-length`).
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Route = dyn Fn(&Received) -> Reply + Send + Sync;

struct Shared {
    route: Box<Route>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    connections: AtomicUsize,
    released: Semaphore,
}

/// A running server, stopped (with every connection) when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl HttpServer {
    /// Listens on a free port of 127.0.0.1 and answers with `route`.
    pub async fn start(route: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared {
            route: Box::new(route),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            connections: AtomicUsize::new(0),
            released: Semaphore::new(0),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Waits until `count` requests have arrived.
    pub async fn wait_for_requests(&self, count: usize) {
        loop {
            let arrived = self.shared.arrived.notified();
            if self.received().len() >= count {
                return;
            }
            arrived.await;
        }
    }

    /// Lets one [`Reply::WhenReleased`] answer.
    pub fn release(&self) {
        self.shared.released.add_permits(1);
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        shared.connections.fetch_add(1, Ordering::SeqCst);
        connections.spawn(serve(stream, shared.clone()));
    }
}

/// Serves requests on one connection until the client closes it.
async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let reply = (shared.route)(&request);
        shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        shared.arrived.notify_waiters();
        if !answer(&mut stream, reply, &shared).await {
            // Hold the connection open, unanswered, until the server stops.
            std::future::pending::<()>().await;
        }
    }
}

/// Writes `reply`; false if the connection must then stall.
async fn answer(stream: &mut TcpStream, reply: Reply, shared: &Shared) -> bool {
    let reply = match reply {
        Reply::WhenReleased(reply) => {
            if let Ok(permit) = shared.released.acquire().await {
                permit.forget();
            }
            *reply
        }
        other => other,
    };
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Test\r\ncontent-length: {}\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await.is_ok() && stream.write_all(&body).await.is_ok()
        }
        Reply::Stall { length, sent } => {
            let head = format!("HTTP/1.1 200 Test\r\ncontent-length: {length}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&sent).await;
            false
        }
        Reply::Silent | Reply::WhenReleased(_) => false,
    }
}

/// Reads one request (head, and a `content-length` or chunked body),
/// keeping any bytes of the next in `buffer`.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Received> {
    let head_end = fill_until(stream, buffer, |b| find(b, b"\r\n\r\n")).await?;
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    buffer.drain(..head_end + 4);
    let body = if value("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunks(stream, buffer).await?
    } else {
        let length = value("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        fill_until(stream, buffer, |b| (b.len() >= length).then_some(length)).await?;
        buffer.drain(..length).collect()
    };
    Some(Received {
        method,
        target,
        headers,
        body,
    })
}

/// Decodes a chunked body (ignoring extensions and trailers).
async fn read_chunks(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = fill_until(stream, buffer, |b| find(b, b"\r\n")).await?;
        let line = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        buffer.drain(..line_end + 2);
        if size == 0 {
            // Trailers, if any, end with an empty line.
            let end = fill_until(stream, buffer, |b| find(b, b"\r\n")).await?;
            buffer.drain(..end + 2);
            return Some(body);
        }
        fill_until(stream, buffer, |b| (b.len() >= size + 2).then_some(size)).await?;
        body.extend(buffer.drain(..size));
        buffer.drain(..2);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads into `buffer` until `done` finds what it looks for.
async fn fill_until(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    loop {
        if let Some(found) = done(buffer) {
            return Some(found);
        }
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}
