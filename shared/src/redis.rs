//! A small Redis client for the cache and the rate limits, over the TCP
//! sockets Spin gives every component (`wasi:sockets`), so that no request
//! waits on Redis longer than a bound the app chooses.
//!
//! Spin's own ways to Redis bound nothing: its key-value store retries for
//! minutes, and its outbound Redis interface waits forever on a server that
//! accepts connections but never answers (a frozen one). Here each
//! connection has a budget, the most one request may spend waiting on it,
//! in all: connecting, sending and reading replies count against it, and
//! each wait ends when it runs out. A connection that fails once (a
//! timeout, a refused connection, a broken reply) is not used again in the
//! request: later calls fail at once, so a Redis that is down costs a
//! request one budget at most.
//!
//! One connection per Redis per request, opened on first use (nothing
//! survives a Spin instance). A password is sent with the first command,
//! in the same write, so it costs no round trip of its own. Commands are
//! pipelined: [`Connection::call`] sends several in one write and reads
//! their replies together, and [`Connection::send`] does not wait for its
//! replies at all (they are read, and dropped, before the next call's).

mod resp;
mod socket;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Duration;

pub use resp::{Command, ProtocolError, Reply};

use socket::{Failure, Instant, Socket};

/// The most a reply may hold in bulk strings: the cache's largest entry,
/// its versions, and room to spare.
pub const MAX_REPLY_BYTES: usize = 2 << 20;

const LIMITS: resp::Limits = resp::Limits {
    bulk_bytes: MAX_REPLY_BYTES,
    elements: 64,
    depth: 2,
    line_bytes: 4096,
};

/// What a connection was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Connecting.
    Connecting,
    /// Sending commands.
    Sending,
    /// Waiting for replies.
    Reading,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connecting => "connecting",
            Self::Sending => "sending",
            Self::Reading => "waiting for a reply",
        })
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The budget ran out.
    #[error("no answer within the {budget_ms} ms a request may wait ({step})")]
    TimedOut {
        /// The connection's budget.
        budget_ms: u64,
        /// Where it ran out.
        step: Step,
    },
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server closed the connection.
    #[error("the connection closed ({0})")]
    Closed(Step),
    /// Another error of the socket.
    #[error("{step}: {text}")]
    Io {
        /// Where.
        step: Step,
        /// The socket's description of it.
        text: String,
    },
    /// A reply that is not RESP, or too large.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The server refused the password.
    #[error("the password was refused")]
    Auth,
    /// The server refused a command (e.g. OOM under `noeviction`); the
    /// connection is still usable.
    #[error("refused a command: {0}")]
    Refused(String),
    /// The connection failed earlier in this request.
    #[error("not asked again in this request, after: {0}")]
    GaveUp(Box<Problem>),
}

/// A failed call, naming the server.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Redis at {address}: {problem}")]
pub struct Error {
    address: SocketAddr,
    problem: Problem,
}

impl Error {
    /// What went wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// A reply the server owes for commands sent earlier, read before the
/// replies to the next ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    /// To `AUTH`: must be `+OK`.
    Auth,
    /// To a command sent with [`Connection::send`]: dropped.
    Dropped,
}

#[derive(Debug)]
enum State {
    Unopened,
    Open {
        socket: Socket,
        /// Bytes read but not parsed yet.
        buffer: Vec<u8>,
        owed: Vec<Owed>,
    },
    Failed(Problem),
}

/// One request's connection to one Redis.
pub struct Connection {
    address: SocketAddr,
    password: String,
    budget: Duration,
    /// Nanoseconds of the budget not spent yet.
    left: Cell<u64>,
    state: RefCell<State>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection to `address` that a request may wait on for `budget`
    /// in all, authenticating with `password` unless it is empty. Nothing
    /// is sent until the first call.
    pub fn new(address: SocketAddr, password: &str, budget: Duration) -> Self {
        Self {
            address,
            password: password.to_owned(),
            budget,
            left: Cell::new(u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX)),
            state: RefCell::new(State::Unopened),
        }
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Sends `commands` in one write and returns their replies, in order.
    /// A reply that is an error fails the call (after every reply has been
    /// read, so the connection stays usable).
    pub fn call(&self, commands: &[Command]) -> Result<Vec<Reply>, Error> {
        let replies = self.exchange(commands, true)?;
        match replies.iter().find_map(|reply| match reply {
            Reply::Error(text) => Some(text.clone()),
            _ => None,
        }) {
            Some(text) => Err(self.error(Problem::Refused(text))),
            None => Ok(replies),
        }
    }

    /// Sends `commands` without waiting for their replies: the wait is
    /// only until the bytes have left for the kernel.
    pub fn send(&self, commands: &[Command]) -> Result<(), Error> {
        self.exchange(commands, false).map(|_| ())
    }

    fn error(&self, problem: Problem) -> Error {
        Error {
            address: self.address,
            problem,
        }
    }

    fn exchange(&self, commands: &[Command], wait: bool) -> Result<Vec<Reply>, Error> {
        let mut state = self.state.borrow_mut();
        if let State::Failed(problem) = &*state {
            return Err(self.error(Problem::GaveUp(Box::new(problem.clone()))));
        }
        let started = socket::now();
        let deadline = started.saturating_add(self.left.get());
        let result = self.exchange_before(&mut state, commands, wait, deadline);
        let spent = socket::now().saturating_sub(started);
        self.left.set(self.left.get().saturating_sub(spent));
        result.map_err(|problem| {
            *state = State::Failed(problem.clone());
            self.error(problem)
        })
    }

    fn exchange_before(
        &self,
        state: &mut State,
        commands: &[Command],
        wait: bool,
        deadline: Instant,
    ) -> Result<Vec<Reply>, Problem> {
        let mut out = Vec::new();
        if let State::Unopened = state {
            let socket = Socket::connect(self.address, deadline)
                .map_err(|failure| self.problem(failure, Step::Connecting))?;
            let mut owed = Vec::new();
            if !self.password.is_empty() {
                Command::new("AUTH").arg(&self.password).encode(&mut out);
                owed.push(Owed::Auth);
            }
            *state = State::Open {
                socket,
                buffer: Vec::new(),
                owed,
            };
        }
        let State::Open {
            socket,
            buffer,
            owed,
        } = state
        else {
            return Err(Problem::Closed(Step::Sending));
        };
        for command in commands {
            command.encode(&mut out);
        }
        socket
            .write_all(&out, deadline)
            .map_err(|failure| self.problem(failure, Step::Sending))?;
        if !wait {
            owed.extend(commands.iter().map(|_| Owed::Dropped));
            return Ok(Vec::new());
        }
        for earlier in std::mem::take(owed) {
            let reply = self.read_reply(socket, buffer, deadline)?;
            if earlier == Owed::Auth && reply != Reply::Status("OK".into()) {
                return Err(Problem::Auth);
            }
        }
        commands
            .iter()
            .map(|_| self.read_reply(socket, buffer, deadline))
            .collect()
    }

    fn read_reply(
        &self,
        socket: &Socket,
        buffer: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<Reply, Problem> {
        loop {
            if let Some((reply, used)) = resp::parse(buffer, &LIMITS)? {
                buffer.drain(..used);
                return Ok(reply);
            }
            socket
                .read_into(buffer, deadline)
                .map_err(|failure| self.problem(failure, Step::Reading))?;
        }
    }

    fn problem(&self, failure: Failure, step: Step) -> Problem {
        match failure {
            Failure::TimedOut => Problem::TimedOut {
                budget_ms: u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX),
                step,
            },
            Failure::Connect(code) => Problem::Connect(code.to_string()),
            Failure::Closed => Problem::Closed(step),
            Failure::Io(text) => Problem::Io { step, text },
        }
    }
}

/// The integer a reply holds: an integer reply, or a bulk string of
/// decimal digits (what `GET` returns for a counter); `None` for nil.
pub fn integer(reply: &Reply) -> Result<Option<i64>, ProtocolError> {
    match reply {
        Reply::Integer(n) => Ok(Some(*n)),
        Reply::Nil => Ok(None),
        Reply::Bulk(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| ProtocolError::unexpected("a counter that is not a number")),
        _ => Err(ProtocolError::unexpected("a reply that is not a number")),
    }
}
