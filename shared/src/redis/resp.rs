//! RESP2, the protocol Redis speaks: commands out, replies in. Replies are
//! parsed with limits (on their size, their nesting and their lines), so a
//! broken or hostile server can make a component neither allocate without
//! bound nor wait for bytes that a reply cannot need.

/// A command: its name and arguments, each sent as a bulk string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    parts: Vec<Vec<u8>>,
}

impl Command {
    /// The command `name`, with no arguments yet.
    pub fn new(name: &str) -> Self {
        Self {
            parts: vec![name.as_bytes().to_vec()],
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Self {
        self.parts.push(arg.as_ref().to_vec());
        self
    }

    /// Appends the command, as Redis reads it, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", self.parts.len()).as_bytes());
        for part in &self.parts {
            out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and other simple strings.
    Status(String),
    /// `-ERR …`: the server refused the command.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// A null bulk string or array: no such key.
    Nil,
    /// An array of replies.
    Array(Vec<Reply>),
}

/// How large a reply may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of bulk strings in one reply, in all.
    pub bulk_bytes: usize,
    /// Elements of one array.
    pub elements: usize,
    /// Arrays within arrays.
    pub depth: usize,
    /// Bytes of one line: a status, an error, a number or a length.
    pub line_bytes: usize,
}

/// Why a reply cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply: {0}")]
pub struct ProtocolError(String);

impl ProtocolError {
    /// A reply that is valid RESP but not what the command returns.
    pub fn unexpected(what: &str) -> Self {
        Self(format!("unexpected {what}"))
    }
}

fn malformed(what: impl Into<String>) -> ProtocolError {
    ProtocolError(what.into())
}

/// Parses the reply at the start of `input`: the reply and how many bytes
/// it took, `None` while `input` holds only part of it, or why it can
/// never be one (already when its declared sizes break `limits`).
pub fn parse(input: &[u8], limits: &Limits) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut parser = Parser {
        input,
        at: 0,
        limits,
        bulk_left: limits.bulk_bytes,
    };
    Ok(parser.reply(0)?.map(|reply| (reply, parser.at)))
}

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
    limits: &'a Limits,
    bulk_left: usize,
}

impl<'a> Parser<'a> {
    fn reply(&mut self, depth: usize) -> Result<Option<Reply>, ProtocolError> {
        let Some(&kind) = self.input.get(self.at) else {
            return Ok(None);
        };
        self.at += 1;
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        let text = || String::from_utf8_lossy(line).into_owned();
        match kind {
            b'+' => Ok(Some(Reply::Status(text()))),
            b'-' => Ok(Some(Reply::Error(text()))),
            b':' => Ok(Some(Reply::Integer(number(line)?))),
            b'$' => self.bulk(number(line)?),
            b'*' => self.array(number(line)?, depth),
            other => Err(malformed(format!(
                "a reply cannot start with byte {other:#04x}"
            ))),
        }
    }

    /// The line up to the next CRLF, which it consumes.
    fn line(&mut self) -> Result<Option<&'a [u8]>, ProtocolError> {
        let input: &'a [u8] = self.input;
        let rest = &input[self.at..];
        let window = &rest[..rest.len().min(self.limits.line_bytes + 2)];
        match window.windows(2).position(|pair| pair == b"\r\n") {
            Some(end) => {
                self.at += end + 2;
                Ok(Some(&rest[..end]))
            }
            None if window.len() > self.limits.line_bytes => Err(malformed(format!(
                "a line longer than {} bytes",
                self.limits.line_bytes
            ))),
            None => Ok(None),
        }
    }

    fn bulk(&mut self, length: i64) -> Result<Option<Reply>, ProtocolError> {
        if length == -1 {
            return Ok(Some(Reply::Nil));
        }
        let length = usize::try_from(length)
            .map_err(|_| malformed(format!("a bulk string of length {length}")))?;
        if length > self.bulk_left {
            return Err(malformed(format!(
                "bulk strings of more than {} bytes",
                self.limits.bulk_bytes
            )));
        }
        self.bulk_left -= length;
        let rest = &self.input[self.at..];
        if rest.len() < length + 2 {
            return Ok(None);
        }
        if &rest[length..length + 2] != b"\r\n" {
            return Err(malformed("a bulk string without its CRLF"));
        }
        self.at += length + 2;
        Ok(Some(Reply::Bulk(rest[..length].to_vec())))
    }

    fn array(&mut self, length: i64, depth: usize) -> Result<Option<Reply>, ProtocolError> {
        if length == -1 {
            return Ok(Some(Reply::Nil));
        }
        let length = usize::try_from(length)
            .map_err(|_| malformed(format!("an array of length {length}")))?;
        if length > self.limits.elements {
            return Err(malformed(format!(
                "an array of more than {} elements",
                self.limits.elements
            )));
        }
        if depth >= self.limits.depth {
            return Err(malformed(format!(
                "arrays nested more than {} deep",
                self.limits.depth
            )));
        }
        let mut elements = Vec::with_capacity(length);
        for _ in 0..length {
            match self.reply(depth + 1)? {
                Some(element) => elements.push(element),
                None => return Ok(None),
            }
        }
        Ok(Some(Reply::Array(elements)))
    }
}

/// A RESP integer: an optional minus and decimal digits, nothing else.
fn number(line: &[u8]) -> Result<i64, ProtocolError> {
    let text = std::str::from_utf8(line).ok();
    let digits = text.map(|t| t.strip_prefix('-').unwrap_or(t));
    match (text, digits) {
        (Some(text), Some(digits))
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse()
                .map_err(|_| malformed(format!("the number {text} is out of range")))
        }
        _ => Err(malformed(format!(
            "{:?} is not a number",
            String::from_utf8_lossy(line)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        bulk_bytes: 64,
        elements: 4,
        depth: 2,
        line_bytes: 32,
    };

    fn whole(input: &[u8]) -> Reply {
        let (reply, used) = parse(input, &LIMITS).unwrap().unwrap();
        assert_eq!(used, input.len(), "{input:?}");
        reply
    }

    fn refused(input: &[u8]) -> String {
        parse(input, &LIMITS).unwrap_err().to_string()
    }

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        Command::new("SET").arg("k").arg(b"a\r\nb").encode(&mut out);
        Command::new("PING").encode(&mut out);
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n*1\r\n$4\r\nPING\r\n"
        );
    }

    #[test]
    fn every_kind_of_reply_is_read() {
        assert_eq!(whole(b"+OK\r\n"), Reply::Status("OK".into()));
        assert_eq!(
            whole(b"-ERR unknown\r\n"),
            Reply::Error("ERR unknown".into())
        );
        assert_eq!(whole(b":-42\r\n"), Reply::Integer(-42));
        assert_eq!(
            whole(b"$5\r\na\r\nbc\r\n"),
            Reply::Bulk(b"a\r\nbc".to_vec())
        );
        assert_eq!(whole(b"$0\r\n\r\n"), Reply::Bulk(Vec::new()));
        assert_eq!(whole(b"$-1\r\n"), Reply::Nil);
        assert_eq!(whole(b"*-1\r\n"), Reply::Nil);
        assert_eq!(
            whole(b"*3\r\n$1\r\nx\r\n$-1\r\n*1\r\n:1\r\n"),
            Reply::Array(vec![
                Reply::Bulk(b"x".to_vec()),
                Reply::Nil,
                Reply::Array(vec![Reply::Integer(1)]),
            ])
        );
    }

    #[test]
    fn a_reply_is_read_off_the_front_of_several() {
        let (reply, used) = parse(b":1\r\n+OK\r\n", &LIMITS).unwrap().unwrap();
        assert_eq!((reply, used), (Reply::Integer(1), 4));
    }

    #[test]
    fn every_prefix_of_a_reply_asks_for_more() {
        let input = b"*2\r\n$5\r\nhello\r\n:12\r\n";
        for end in 0..input.len() {
            assert_eq!(parse(&input[..end], &LIMITS), Ok(None), "{end}");
        }
        assert!(parse(input, &LIMITS).unwrap().is_some());
    }

    #[test]
    fn declared_sizes_over_the_limits_are_refused_before_their_bytes_arrive() {
        assert!(refused(b"$65\r\n").contains("more than 64 bytes"));
        // The limit holds for all the bulk strings of a reply together.
        assert!(
            refused(b"*2\r\n$40\r\n0123456789012345678901234567890123456789\r\n$40\r\n")
                .contains("more than 64 bytes")
        );
        assert!(refused(b"*5\r\n").contains("more than 4 elements"));
        assert!(refused(b"*1\r\n*1\r\n*1\r\n:1\r\n").contains("nested"));
        assert!(refused(b"$99999999999999999999\r\n").contains("out of range"));
    }

    #[test]
    fn a_line_without_its_end_is_refused_once_it_is_too_long() {
        assert_eq!(parse(&[b'+'; 20], &LIMITS), Ok(None));
        assert!(refused(&[b'+'; 40]).contains("longer than 32 bytes"));
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [
            &b"?x\r\n"[..],
            b"_\r\n",
            b":\r\n",
            b":1x\r\n",
            b":--1\r\n",
            b": 1\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
            b"$2\r\nabcd\r\n",
            b"$abc\r\n",
            b"%1\r\n",
        ] {
            assert!(parse(bad, &LIMITS).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic_and_never_overrun_the_input() {
        // A small deterministic generator: the same bytes on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"+-:$*\r\n0123456789-1xOK";
        for _ in 0..20_000 {
            let length = (next() % 24) as usize;
            let input: Vec<u8> = (0..length)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Ok(Some((_, used))) = parse(&input, &LIMITS) {
                assert!(used <= input.len());
            }
        }
    }
}
