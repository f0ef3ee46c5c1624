//! A RELP client: rsyslog's acknowledged transport (`relp://host:port`).
//!
//! Checked against librelp (`doc/relp.md`, `src/relpframe.c`,
//! `src/relpsess.c`, `src/copen.c`, `src/offers.c`, `src/cclose.c`) and
//! rsyslog 8.2302's imrelp, and tested against rsyslogd 8.2302 (Debian
//! bookworm, librelp 1.11):
//!
//! ```text
//! RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF
//! TXNR       = 1*9DIGIT    ; 1, 2, 3, … per session, no gaps (the server
//!                          ; checks); 0 for the server's `serverclose` hint
//! COMMAND    = 1*32ALPHA   ; open, syslog, close, rsp, serverclose
//! DATALEN    = 1*9DIGIT    ; octets of DATA; no SP and no DATA when 0
//! RSP DATA   = 3DIGIT [SP HUMANMSG] [LF CMDDATA]   ; 200 = OK
//! ```
//!
//! A session starts with `open` (offers `relp_version=0`, `relp_software`,
//! `commands=syslog`; imrelp requires the `syslog` command) and may send
//! `syslog` frames once the `open` response arrived. Responses come in
//! the order of the commands, so each must answer the oldest frame in
//! flight. The server keeps no state across sessions and does not
//! deduplicate.
//!
//! # Delivery: at least once
//!
//! [`RelpClient::send`] returns `Ok` only once the receiver acknowledged
//! (`200`) every message of the call. On any error the connection is
//! dropped, and the caller is to treat the call as not delivered and
//! resend it. What the receiver processed but whose acknowledgement was
//! lost (the receiver or the connection died) then arrives twice: at most
//! the messages of the failed call, that is the ones it acknowledged
//! ([`RelpClient::acknowledged`] counts them, if the caller wants to
//! resend only the rest) plus at most `window` frames in flight. Nothing
//! is lost as far as the receiver's acknowledgement goes; what that means
//! (handed to a queue, or written) is the receiver's configuration.
//!
//! # Transaction numbers
//!
//! librelp's server expects txnr 1,000,000,000 after 999,999,999, which
//! its own parser (9 digits) then rejects. The client therefore closes
//! the session (`close`) and opens a new one, where numbering restarts at
//! 1, before reaching [`TXNR_LIMIT`].

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::syslog::{connect, peer_still_open};
use super::TransportError;

/// The most digits in TXNR and DATALEN.
pub const MAX_DIGITS: u8 = 9;

/// The longest COMMAND.
pub const MAX_COMMAND: usize = 32;

/// The largest DATA the client accepts in a server's frame (librelp's
/// default maximum, `RELP_DFLT_MAX_DATA_SIZE`).
pub const MAX_RSP_DATA: u32 = 128 * 1024;

/// The client opens a new session before a txnr reaches this.
pub const TXNR_LIMIT: u32 = 999_000_000;

/// How long the client waits for a response, by default.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the client offers in `open`.
pub const OPEN_OFFERS: &str = concat!(
    "relp_version=0\nrelp_software=ul-writer,",
    env!("CARGO_PKG_VERSION"),
    ",https://docs.rs/ul-writer\ncommands=syslog"
);

/// A frame the server sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// The transaction number.
    pub txnr: u32,
    command: [u8; MAX_COMMAND],
    command_len: u8,
    /// DATA (empty when DATALEN is 0).
    pub data: Vec<u8>,
}

impl Frame {
    /// COMMAND (ASCII letters only).
    pub fn command(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.command[..usize::from(self.command_len)]).unwrap_or("?")
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("txnr", &self.txnr)
            .field("command", &self.command())
            .field("data", &String::from_utf8_lossy(&self.data))
            .finish()
    }
}

/// A header field, for [`FrameErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The transaction number.
    Txnr,
    /// The command.
    Command,
    /// The data length.
    DataLen,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Txnr => "TXNR",
            Field::Command => "COMMAND",
            Field::DataLen => "DATALEN",
        })
    }
}

/// What is wrong with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameErrorKind {
    /// A byte that may not appear there (a non-digit in TXNR or DATALEN, a
    /// non-letter in COMMAND).
    #[error("unexpected byte {byte:#04x} in {field}")]
    Unexpected {
        /// The field being read.
        field: Field,
        /// The byte.
        byte: u8,
    },
    /// A field with no characters.
    #[error("empty {0}")]
    Empty(Field),
    /// A field longer than the protocol allows (9 digits, 32 letters).
    #[error("{field} longer than {max} characters")]
    TooLong {
        /// The field being read.
        field: Field,
        /// Its maximum length.
        max: usize,
    },
    /// DATALEN above the client's maximum.
    #[error("DATALEN {len} above the maximum of {max}")]
    DataTooLarge {
        /// DATALEN as sent.
        len: u32,
        /// The maximum.
        max: u32,
    },
    /// DATALEN is not 0 but the header ended (LF) with no data.
    #[error("DATALEN {0} but no data")]
    MissingData(u32),
    /// The byte after DATA (or after a DATALEN of 0) is not LF.
    #[error("expected LF after the data, got {0:#04x}")]
    MissingTrailer(u8),
}

/// A malformed frame: what, and at which byte of the stream (counted from
/// 0, the connection's first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at byte {at}: {kind}")]
pub struct FrameError {
    /// The offset of the offending byte in the stream.
    pub at: u64,
    /// What is wrong.
    pub kind: FrameErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Txnr,
    Command,
    DataLen,
    /// After the SP that follows a DATALEN of 0: only LF may follow.
    ZeroData,
    Data,
    Trailer,
}

/// An incremental parser of the frames a RELP server sends: feed it bytes
/// as they arrive, in any pieces; it never panics, and it holds at most
/// one frame's DATA. After an error the stream is lost: call
/// [`reset`](Self::reset) for a new connection.
#[derive(Debug, Clone)]
pub struct Parser {
    max_data: u32,
    at: u64,
    state: State,
    digits: u8,
    txnr: u32,
    command: [u8; MAX_COMMAND],
    command_len: u8,
    datalen: u32,
    data: Vec<u8>,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(MAX_RSP_DATA)
    }
}

impl Parser {
    /// A parser that refuses DATALEN above `max_data`.
    pub fn new(max_data: u32) -> Self {
        Self {
            max_data,
            at: 0,
            state: State::Txnr,
            digits: 0,
            txnr: 0,
            command: [0; MAX_COMMAND],
            command_len: 0,
            datalen: 0,
            data: Vec::new(),
        }
    }

    /// Forgets everything: the next byte is a new stream's first.
    pub fn reset(&mut self) {
        *self = Self::new(self.max_data);
    }

    /// Reads from `input` up to the end of the first frame it completes.
    /// Returns how many bytes it consumed and the frame, if one ended
    /// there; with no frame, all of `input` was consumed.
    pub fn push(&mut self, input: &[u8]) -> Result<(usize, Option<Frame>), FrameError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let err = |kind| FrameError {
                at: self.at + i as u64,
                kind,
            };
            match self.state {
                State::Txnr | State::DataLen => {
                    let field = if self.state == State::Txnr {
                        Field::Txnr
                    } else {
                        Field::DataLen
                    };
                    let value = if field == Field::Txnr {
                        &mut self.txnr
                    } else {
                        &mut self.datalen
                    };
                    match b {
                        b'0'..=b'9' => {
                            if self.digits == MAX_DIGITS {
                                return Err(err(FrameErrorKind::TooLong {
                                    field,
                                    max: usize::from(MAX_DIGITS),
                                }));
                            }
                            // 9 digits fit a u32.
                            *value = *value * 10 + u32::from(b - b'0');
                            self.digits += 1;
                        }
                        b' ' | b'\n' if self.digits == 0 => {
                            return Err(err(FrameErrorKind::Empty(field)))
                        }
                        b' ' if field == Field::Txnr => {
                            self.digits = 0;
                            self.state = State::Command;
                        }
                        b' ' | b'\n' => {
                            if self.datalen > self.max_data {
                                return Err(err(FrameErrorKind::DataTooLarge {
                                    len: self.datalen,
                                    max: self.max_data,
                                }));
                            }
                            if b == b'\n' {
                                if self.datalen != 0 {
                                    return Err(err(FrameErrorKind::MissingData(self.datalen)));
                                }
                                return Ok((i + 1, Some(self.finish(i + 1))));
                            }
                            self.state = if self.datalen == 0 {
                                State::ZeroData
                            } else {
                                State::Data
                            };
                        }
                        _ => return Err(err(FrameErrorKind::Unexpected { field, byte: b })),
                    }
                }
                State::Command => match b {
                    b'a'..=b'z' | b'A'..=b'Z' => {
                        let n = usize::from(self.command_len);
                        if n == MAX_COMMAND {
                            return Err(err(FrameErrorKind::TooLong {
                                field: Field::Command,
                                max: MAX_COMMAND,
                            }));
                        }
                        self.command[n] = b;
                        self.command_len += 1;
                    }
                    b' ' if self.command_len == 0 => {
                        return Err(err(FrameErrorKind::Empty(Field::Command)))
                    }
                    b' ' => self.state = State::DataLen,
                    _ => {
                        return Err(err(FrameErrorKind::Unexpected {
                            field: Field::Command,
                            byte: b,
                        }))
                    }
                },
                State::Data => {
                    let want = self.datalen as usize - self.data.len();
                    let take = want.min(input.len() - i);
                    self.data.extend_from_slice(&input[i..i + take]);
                    i += take;
                    if self.data.len() == self.datalen as usize {
                        self.state = State::Trailer;
                    }
                    continue;
                }
                State::ZeroData | State::Trailer => {
                    if b != b'\n' {
                        return Err(err(FrameErrorKind::MissingTrailer(b)));
                    }
                    return Ok((i + 1, Some(self.finish(i + 1))));
                }
            }
            i += 1;
        }
        self.at += i as u64;
        Ok((i, None))
    }

    /// The frame read, the parser ready for the next; `consumed` bytes of
    /// this push were used.
    fn finish(&mut self, consumed: usize) -> Frame {
        let frame = Frame {
            txnr: self.txnr,
            command: self.command,
            command_len: self.command_len,
            data: std::mem::take(&mut self.data),
        };
        let at = self.at + consumed as u64;
        let max_data = self.max_data;
        *self = Self::new(max_data);
        self.at = at;
        frame
    }
}

/// Appends one frame: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
///
/// ```
/// use ul_writer::internals::forward::relp::encode;
/// let mut out = Vec::new();
/// encode(&mut out, 7, "syslog", b"<14>1 hi");
/// encode(&mut out, 8, "close", b"");
/// assert_eq!(out, b"7 syslog 8 <14>1 hi\n8 close 0\n");
/// ```
pub fn encode(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(n.format(txnr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(n.format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// A response's code and text: `3DIGIT [SP HUMANMSG] [LF CMDDATA]`; the
/// text is HUMANMSG. `None` if DATA does not start with three digits.
pub fn rsp_code(data: &[u8]) -> Option<(u16, &[u8])> {
    let code = data.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    let rest = &data[3..];
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let text = rest[..end].strip_prefix(b" ").unwrap_or(&rest[..end]);
    Some((code, text))
}

/// The value of offer `name` in an `open` response's DATA (the lines
/// after the first, `name=value`), if offered.
pub fn offer<'a>(data: &'a [u8], name: &str) -> Option<&'a [u8]> {
    data.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let eq = line.iter().position(|&b| b == b'=')?;
        (&line[..eq] == name.as_bytes()).then(|| &line[eq + 1..])
    })
}

/// An open connection and its session.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    parser: Parser,
    rbuf: Box<[u8]>,
    rpos: usize,
    rlen: usize,
    next_txnr: u32,
    in_flight: VecDeque<u32>,
}

/// A RELP client over one TCP connection: see the [module](self) for what
/// it guarantees. Dropping it closes the socket without RELP's `close`
/// (rsyslogd then logs a broken session): call [`close`](Self::close)
/// for a clean end.
#[derive(Debug)]
pub struct RelpClient {
    addr: String,
    window: usize,
    read_timeout: Duration,
    txnr_limit: u32,
    conn: Option<Conn>,
    wbuf: Vec<u8>,
    acknowledged: usize,
    sessions: u64,
}

impl RelpClient {
    /// A client for `addr` (`host:port`) keeping at most `window` (≥ 1)
    /// frames unacknowledged; it connects on the first
    /// [`send`](Self::send).
    pub fn new(addr: String, window: usize) -> Self {
        Self {
            addr,
            window: window.max(1),
            read_timeout: READ_TIMEOUT,
            txnr_limit: TXNR_LIMIT,
            conn: None,
            wbuf: Vec::new(),
            acknowledged: 0,
            sessions: 0,
        }
    }

    /// Sets how long to wait for a response before giving up on the
    /// connection ([`READ_TIMEOUT`] by default); applies from the next
    /// connection.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout.max(Duration::from_millis(1));
    }

    /// Not API: a lower txnr at which to start a new session, so that tests
    /// reach it.
    #[doc(hidden)]
    pub fn set_txnr_limit(&mut self, limit: u32) {
        self.txnr_limit = limit.clamp(2, TXNR_LIMIT);
    }

    /// The address as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Whether a session is open.
    pub fn is_open(&self) -> bool {
        self.conn.is_some()
    }

    /// How many sessions this client opened so far.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// How many messages of the last [`send`](Self::send) call, from its
    /// first, the receiver acknowledged (all of them after `Ok`). After an
    /// error, a caller may resend only the others; resending the whole
    /// call repeats these.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged
    }

    /// Sends each of `msgs` as one `syslog` frame, opening a session first
    /// if needed (also when the server closed the last one since the last
    /// call), at most `window` unacknowledged at a time, and returns
    /// `Ok` once the receiver acknowledged all of them with `200`. Any
    /// error (connect, I/O, timeout, a response other than 200, a
    /// response out of order, `serverclose`, EOF) drops the connection
    /// and is returned: the call is then not delivered as a whole (see
    /// [`acknowledged`](Self::acknowledged)), and the next call opens a
    /// new session.
    pub fn send(&mut self, msgs: &[&[u8]]) -> Result<(), TransportError> {
        self.acknowledged = 0;
        let r = self.send_all(msgs);
        if r.is_err() {
            self.drop_conn();
        }
        if self.wbuf.capacity() > 1 << 20 {
            self.wbuf = Vec::new();
        }
        r
    }

    fn send_all(&mut self, msgs: &[&[u8]]) -> Result<(), TransportError> {
        // Nothing is in flight between calls: if the server closed the
        // connection meanwhile (it restarted), open a new session rather
        // than fail this call on the dead one.
        if self
            .conn
            .as_ref()
            .is_some_and(|c| !peer_still_open(&c.stream))
        {
            self.drop_conn();
        }
        let mut next = 0;
        while self.acknowledged < msgs.len() {
            if self.conn.is_none() {
                self.open()?;
            }
            let Some(conn) = self.conn.as_mut() else {
                unreachable!("opened above")
            };
            if conn.next_txnr >= self.txnr_limit && conn.in_flight.is_empty() {
                self.close();
                continue;
            }
            self.wbuf.clear();
            while next < msgs.len()
                && conn.in_flight.len() < self.window
                && conn.next_txnr < self.txnr_limit
            {
                encode(&mut self.wbuf, conn.next_txnr, "syslog", msgs[next]);
                conn.in_flight.push_back(conn.next_txnr);
                conn.next_txnr += 1;
                next += 1;
            }
            if !self.wbuf.is_empty() {
                conn.stream
                    .write_all(&self.wbuf)
                    .map_err(|source| TransportError::Io {
                        proto: "relp",
                        peer: self.addr.clone(),
                        op: "write",
                        source,
                    })?;
            }
            // Wait for one response, then take those already read.
            let mut block = true;
            while let Some(frame) = read_frame(conn, &self.addr, self.read_timeout, block)? {
                block = false;
                ack(conn, &self.addr, frame)?;
                self.acknowledged += 1;
            }
        }
        Ok(())
    }

    /// Connects and opens a session.
    fn open(&mut self) -> Result<(), TransportError> {
        let stream = connect("relp", &self.addr)?;
        let io_err = |op, source| TransportError::Io {
            proto: "relp",
            peer: self.addr.clone(),
            op,
            source,
        };
        stream
            .set_read_timeout(Some(self.read_timeout))
            .map_err(|e| io_err("set read timeout", e))?;
        let mut conn = Conn {
            stream,
            parser: Parser::default(),
            rbuf: vec![0; 64 * 1024].into_boxed_slice(),
            rpos: 0,
            rlen: 0,
            next_txnr: 2,
            in_flight: VecDeque::from([1]),
        };
        self.wbuf.clear();
        encode(&mut self.wbuf, 1, "open", OPEN_OFFERS.as_bytes());
        conn.stream
            .write_all(&self.wbuf)
            .map_err(|e| io_err("write", e))?;
        let Some(frame) = read_frame(&mut conn, &self.addr, self.read_timeout, true)? else {
            unreachable!("a blocking read returns a frame or an error")
        };
        let data = expect_rsp(&mut conn, &self.addr, &frame, "open")?;
        let offer_err = |what: String| TransportError::Offer {
            peer: self.addr.clone(),
            what,
        };
        let commands = offer(data, "commands").unwrap_or_default();
        if !commands.split(|&b| b == b',').any(|c| c == b"syslog") {
            return Err(offer_err(format!(
                "the server does not offer the syslog command (commands={:?})",
                String::from_utf8_lossy(commands)
            )));
        }
        if let Some(v) = offer(data, "relp_version") {
            if v != b"0" && v != b"1" {
                return Err(offer_err(format!(
                    "relp_version {:?}: this client speaks 0",
                    String::from_utf8_lossy(v)
                )));
            }
        }
        self.conn = Some(conn);
        self.sessions += 1;
        Ok(())
    }

    /// Ends the session: sends `close` and waits for its response (best
    /// effort: errors only drop the connection), then closes the socket.
    /// Nothing is in flight after [`send`](Self::send) returned.
    pub fn close(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let txnr = conn.next_txnr;
            self.wbuf.clear();
            encode(&mut self.wbuf, txnr, "close", b"");
            if conn.in_flight.is_empty() && conn.stream.write_all(&self.wbuf).is_ok() {
                conn.in_flight.push_back(txnr);
                // Whatever comes (rsp, serverclose, EOF, an error): done.
                let _ = read_frame(conn, &self.addr, self.read_timeout, true);
            }
        }
        self.drop_conn();
    }

    fn drop_conn(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }
}

/// Checks that `frame` is the response to the oldest frame in flight and
/// that it says 200; pops it.
fn ack(conn: &mut Conn, addr: &str, frame: Frame) -> Result<(), TransportError> {
    expect_rsp(conn, addr, &frame, "syslog").map(|_| ())
}

/// Checks that `frame` is the `rsp` to the oldest frame in flight, with
/// code 200, pops that frame and returns the response's DATA.
fn expect_rsp<'f>(
    conn: &mut Conn,
    addr: &str,
    frame: &'f Frame,
    command: &'static str,
) -> Result<&'f [u8], TransportError> {
    let protocol = |what: String| TransportError::Protocol {
        peer: addr.to_owned(),
        what,
    };
    match frame.command() {
        "rsp" => {}
        "serverclose" => {
            return Err(TransportError::Closed {
                peer: addr.to_owned(),
                how: "serverclose",
                in_flight: conn.in_flight.len(),
            })
        }
        other => {
            return Err(protocol(format!(
                "unexpected command {other:?} (txnr {}) from the server",
                frame.txnr
            )))
        }
    }
    let Some(&oldest) = conn.in_flight.front() else {
        return Err(protocol(format!(
            "rsp for txnr {} with nothing in flight",
            frame.txnr
        )));
    };
    if frame.txnr != oldest {
        return Err(protocol(format!(
            "rsp for txnr {}, expected txnr {oldest} (the oldest in flight)",
            frame.txnr
        )));
    }
    let Some((code, text)) = rsp_code(&frame.data) else {
        return Err(protocol(format!(
            "rsp for txnr {} without a 3-digit code: {:?}",
            frame.txnr,
            String::from_utf8_lossy(&frame.data)
        )));
    };
    if code != 200 {
        return Err(TransportError::Refused {
            peer: addr.to_owned(),
            command,
            txnr: frame.txnr,
            code,
            text: String::from_utf8_lossy(text).into_owned(),
        });
    }
    conn.in_flight.pop_front();
    Ok(&frame.data)
}

/// The next frame: from what was already read, or (if `block`) from the
/// socket, waiting at most the read timeout. `Ok(None)` only when not
/// blocking and no whole frame is buffered.
/// Asks the kernel to acknowledge what arrives on `stream` at once rather
/// than after its delayed-ACK timer (Linux's `TCP_QUICKACK`, which it
/// clears again by itself, hence set before each read). librelp sends
/// each response as a small segment of its own, and a server with Nagle's
/// algorithm holds the next one until the last is acknowledged: with
/// delayed ACKs every window of responses stalled about 40 ms (measured
/// against rsyslogd 8.2302: 128 records per 46 ms). Best effort: a socket
/// that refuses it only keeps the stall.
fn quick_ack(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: `setsockopt` on a socket this stream owns (open while it
    // lives), reading `size_of::<c_int>()` bytes from `on`, which lives
    // across the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn read_frame(
    conn: &mut Conn,
    addr: &str,
    timeout: Duration,
    block: bool,
) -> Result<Option<Frame>, TransportError> {
    loop {
        if conn.rpos < conn.rlen {
            let (used, frame) =
                conn.parser
                    .push(&conn.rbuf[conn.rpos..conn.rlen])
                    .map_err(|source| TransportError::Frame {
                        peer: addr.to_owned(),
                        source,
                    })?;
            conn.rpos += used;
            if frame.is_some() {
                return Ok(frame);
            }
        }
        if !block {
            return Ok(None);
        }
        conn.rpos = 0;
        conn.rlen = 0;
        quick_ack(&conn.stream);
        match conn.stream.read(&mut conn.rbuf) {
            Ok(0) => {
                return Err(TransportError::Closed {
                    peer: addr.to_owned(),
                    how: "EOF",
                    in_flight: conn.in_flight.len(),
                })
            }
            Ok(n) => conn.rlen = n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(TransportError::Timeout {
                    peer: addr.to_owned(),
                    timeout,
                    txnr: conn.in_flight.front().copied().unwrap_or(0),
                    in_flight: conn.in_flight.len(),
                })
            }
            Err(source) => {
                return Err(TransportError::Io {
                    proto: "relp",
                    peer: addr.to_owned(),
                    op: "read",
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces cut at `cuts`, collecting frames.
    fn parse_cut(input: &[u8], cuts: &[usize]) -> Result<Vec<Frame>, FrameError> {
        let mut p = Parser::new(128);
        let mut frames = Vec::new();
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(input.len());
        for w in bounds.windows(2) {
            let mut piece = &input[w[0]..w[1]];
            loop {
                let (used, frame) = p.push(piece)?;
                piece = &piece[used..];
                match frame {
                    Some(f) => frames.push(f),
                    None => {
                        assert!(piece.is_empty(), "no frame but input left");
                        break;
                    }
                }
                if piece.is_empty() {
                    break;
                }
            }
        }
        Ok(frames)
    }

    const STREAM: &[u8] = b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n\
2 rsp 6 200 OK\n3 rsp 0\n0 serverclose 0\n999999999 rsp 3 5\n\n\n4 rsp 0 \n";

    fn check(frames: &[Frame]) {
        let got: Vec<(u32, &str, &[u8])> = frames
            .iter()
            .map(|f| (f.txnr, f.command(), f.data.as_slice()))
            .collect();
        assert_eq!(got.len(), 6, "{frames:?}");
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1, "rsp");
        assert_eq!(offer(got[0].2, "commands"), Some(&b"syslog"[..]));
        assert_eq!(offer(got[0].2, "relp_version"), Some(&b"0"[..]));
        assert_eq!(offer(got[0].2, "nope"), None);
        assert_eq!(rsp_code(got[0].2), Some((200, &b"OK"[..])));
        assert_eq!(got[1], (2, "rsp", &b"200 OK"[..]));
        assert_eq!(got[2], (3, "rsp", &b""[..]));
        assert_eq!(got[3], (0, "serverclose", &b""[..]));
        // DATA may hold LFs: DATALEN counts.
        assert_eq!(got[4], (999_999_999, "rsp", &b"5\n\n"[..]));
        // A DATALEN of 0 followed by SP, then LF: tolerated.
        assert_eq!(got[5], (4, "rsp", &b""[..]));
    }

    #[test]
    fn frames_split_at_every_boundary() {
        check(&parse_cut(STREAM, &[]).unwrap());
        for cut in 1..STREAM.len() {
            check(&parse_cut(STREAM, &[cut]).unwrap());
        }
        // And byte by byte.
        let cuts: Vec<usize> = (1..STREAM.len()).collect();
        check(&parse_cut(STREAM, &cuts).unwrap());
    }

    fn error_of(input: &[u8]) -> FrameError {
        let e = parse_cut(input, &[]).unwrap_err();
        // The same error, at the same place, fed byte by byte.
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(parse_cut(input, &cuts).unwrap_err(), e);
        e
    }

    #[test]
    fn malformed_frames_each_give_their_error() {
        use Field::*;
        use FrameErrorKind::*;
        let cases: &[(&[u8], u64, FrameErrorKind)] = &[
            (
                b"x",
                0,
                Unexpected {
                    field: Txnr,
                    byte: b'x',
                },
            ),
            (b" rsp 0\n", 0, Empty(Txnr)),
            (b"\n", 0, Empty(Txnr)),
            (
                b"1234567890 rsp 0\n",
                9,
                TooLong {
                    field: Txnr,
                    max: 9,
                },
            ),
            (b"1  0\n", 2, Empty(Command)),
            (
                b"1 rs1 0\n",
                4,
                Unexpected {
                    field: Command,
                    byte: b'1',
                },
            ),
            (
                b"1 rsp\n",
                5,
                Unexpected {
                    field: Command,
                    byte: b'\n',
                },
            ),
            (
                &[b"1 ".as_slice(), &[b'a'; 33], b" 0\n"].concat(),
                34,
                TooLong {
                    field: Command,
                    max: 32,
                },
            ),
            (b"1 rsp \n", 6, Empty(DataLen)),
            (b"1 rsp  x\n", 6, Empty(DataLen)),
            (
                b"1 rsp 1x\n",
                7,
                Unexpected {
                    field: DataLen,
                    byte: b'x',
                },
            ),
            (
                b"1 rsp 1234567890 x\n",
                15,
                TooLong {
                    field: DataLen,
                    max: 9,
                },
            ),
            (b"1 rsp 129 x", 9, DataTooLarge { len: 129, max: 128 }),
            (b"1 rsp 3\n", 7, MissingData(3)),
            (b"1 rsp 3 abcd", 11, MissingTrailer(b'd')),
            (b"1 rsp 0 x", 8, MissingTrailer(b'x')),
            // The offset counts from the stream's start, across frames.
            (
                b"2 rsp 0\n3 rsp 0\nx",
                16,
                Unexpected {
                    field: Txnr,
                    byte: b'x',
                },
            ),
        ];
        for (input, at, kind) in cases {
            let e = error_of(input);
            assert_eq!(
                (e.at, e.kind),
                (*at, *kind),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            error_of(b"1 rsp 3 abcd").to_string(),
            "at byte 11: expected LF after the data, got 0x64"
        );
    }

    #[test]
    fn the_parser_never_panics() {
        let mut rng = ul_test_support::Rng::new(16);
        let alphabet = b"0123456789 \nrspabc\x00\xff";
        for _ in 0..20_000 {
            let len = rng.below(40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let mut p = Parser::new(16);
            let mut rest = &input[..];
            while let Ok((used, Some(_))) = p.push(rest) {
                rest = &rest[used..];
            }
        }
    }

    /// Parses `input` whole, then again cut at `cuts`: frames and the
    /// error (what and where) must be the same.
    fn same_either_way(input: &[u8], cuts: &[usize]) -> Result<Vec<Frame>, FrameError> {
        let whole = parse_cut(input, &[]);
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        assert_eq!(parse_cut(input, &cuts), whole);
        whole
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Encoded frames parse back to themselves, however the stream is
        /// cut.
        #[test]
        fn encoded_frames_parse_back(
            frames in proptest::collection::vec(
                (0u32..=999_999_999, "[a-zA-Z]{1,32}", proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)),
                1..6,
            ),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..8),
        ) {
            let mut stream = Vec::new();
            for (t, c, d) in &frames {
                encode(&mut stream, *t, c, d);
            }
            let got = same_either_way(&stream, &cuts).unwrap();
            let got: Vec<(u32, String, Vec<u8>)> =
                got.into_iter().map(|f| (f.txnr, f.command().to_owned(), f.data)).collect();
            proptest::prop_assert_eq!(got, frames);
        }

        /// Any bytes: no panic, and the outcome does not depend on how the
        /// bytes arrive.
        #[test]
        fn any_bytes_any_cuts(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"0123456789 \nrspz".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..200,
            ),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..8),
        ) {
            let _ = same_either_way(&input, &cuts);
        }
    }

    #[test]
    fn response_codes() {
        assert_eq!(rsp_code(b"200 OK"), Some((200, &b"OK"[..])));
        assert_eq!(
            rsp_code(b"500 command disabled\nx"),
            Some((500, &b"command disabled"[..]))
        );
        assert_eq!(rsp_code(b"200"), Some((200, &b""[..])));
        assert_eq!(rsp_code(b"20"), None);
        assert_eq!(rsp_code(b"2x0 OK"), None);
        assert_eq!(rsp_code(b""), None);
    }

    #[test]
    fn open_syslog_and_close_framing() {
        let mut out = Vec::new();
        encode(&mut out, 1, "open", OPEN_OFFERS.as_bytes());
        let want = format!(
            "1 open {} relp_version=0\nrelp_software=ul-writer,{},https://docs.rs/ul-writer\ncommands=syslog\n",
            OPEN_OFFERS.len(),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
        let mut out = Vec::new();
        encode(&mut out, 2, "syslog", b"<14>1 a\nb");
        encode(&mut out, 3, "syslog", b"");
        encode(&mut out, 4, "close", b"");
        assert_eq!(out, b"2 syslog 9 <14>1 a\nb\n3 syslog 0\n4 close 0\n");
    }

    /// A scripted server on 127.0.0.1: reads the client's frames and
    /// answers them as `answer` says.
    fn server(answer: impl Fn(u32, &str) -> Vec<u8> + Send + 'static) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let mut p = Parser::new(1 << 20);
                let mut buf = [0u8; 4096];
                'conn: loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut rest = &buf[..n];
                    while let Ok((used, Some(f))) = p.push(rest) {
                        rest = &rest[used..];
                        let reply = answer(f.txnr, f.command());
                        if s.write_all(&reply).is_err() {
                            break 'conn;
                        }
                    }
                }
            }
        });
        addr
    }

    fn open_ok(txnr: u32) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &mut out,
            txnr,
            "rsp",
            b"200 OK\nrelp_version=0\ncommands=syslog",
        );
        out
    }

    #[test]
    fn refusals_and_disorder_drop_the_session() {
        // 500 to the third syslog frame (txnr 4).
        let addr = server(|t, c| match (t, c) {
            (_, "open") => open_ok(t),
            (4, _) => format!("{t} rsp 20 500 command disabled\n").into_bytes(),
            _ => format!("{t} rsp 6 200 OK\n").into_bytes(),
        });
        let mut c = RelpClient::new(addr.clone(), 2);
        let e = c.send(&[b"a", b"b", b"c", b"d"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("relp {addr}: rsp 500 for txnr 4 (syslog): command disabled")
        );
        assert_eq!(c.acknowledged(), 2);
        assert!(!c.is_open());

        // Responses out of order.
        let addr = server(|t, c| match (t, c) {
            (_, "open") => open_ok(t),
            _ => format!("{} rsp 6 200 OK\n", t + 1).into_bytes(),
        });
        let e = RelpClient::new(addr, 4).send(&[b"a"]).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("protocol: rsp for txnr 3, expected txnr 2 (the oldest in flight)"),
            "{e}"
        );

        // No syslog command offered.
        let addr = server(|t, _| format!("{t} rsp 6 200 OK\n").into_bytes());
        let e = RelpClient::new(addr, 4).send(&[b"a"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("open: the server does not offer the syslog command"),
            "{e}"
        );

        // serverclose instead of an answer.
        let addr = server(|t, c| match c {
            "open" => open_ok(t),
            _ => b"0 serverclose 0\n".to_vec(),
        });
        let e = RelpClient::new(addr, 4).send(&[b"a"]).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "connection closed by the server (serverclose) with 1 frame(s) unacknowledged"
            ),
            "{e}"
        );

        // Silence: the read timeout.
        let addr = server(|t, c| match c {
            "open" => open_ok(t),
            _ => Vec::new(),
        });
        let mut c = RelpClient::new(addr, 4);
        c.set_read_timeout(Duration::from_millis(100));
        let e = c.send(&[b"a", b"b"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("no rsp within 100ms (oldest unacknowledged txnr 2, 2 in flight)"),
            "{e}"
        );
    }

    #[test]
    fn at_most_window_frames_are_unacknowledged() {
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let s2 = seen.clone();
        // Answers `open` and nothing else.
        let addr = server(move |t, c| match c {
            "open" => open_ok(t),
            _ => {
                s2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Vec::new()
            }
        });
        let mut c = RelpClient::new(addr, 3);
        c.set_read_timeout(Duration::from_millis(300));
        let msgs: Vec<&[u8]> = vec![b"m"; 10];
        let e = c.send(&msgs).unwrap_err();
        assert!(
            matches!(
                e,
                TransportError::Timeout {
                    txnr: 2,
                    in_flight: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(c.acknowledged(), 0);
    }

    #[test]
    fn sessions_rotate_before_the_txnr_limit() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let addr = server(move |t, c| {
            s2.lock().unwrap().push((t, c.to_owned()));
            match c {
                "open" => open_ok(t),
                "close" => format!("{t} rsp 0\n").into_bytes(),
                _ => format!("{t} rsp 6 200 OK\n").into_bytes(),
            }
        });
        let mut c = RelpClient::new(addr, 3);
        c.set_txnr_limit(5);
        let msgs: Vec<&[u8]> = vec![b"m"; 7];
        c.send(&msgs).unwrap();
        c.close();
        assert_eq!(c.sessions(), 3);
        let seen = seen.lock().unwrap();
        let cmds: Vec<String> = seen.iter().map(|(t, c)| format!("{t}{c}")).collect();
        let want = "1open 2syslog 3syslog 4syslog 5close 1open 2syslog 3syslog 4syslog 5close 1open 2syslog 3close";
        assert_eq!(cmds.join(" "), want);
    }
}
