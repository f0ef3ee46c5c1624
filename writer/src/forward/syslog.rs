//! RFC 5424 syslog messages, RFC 6587 octet-counting framing, and a client
//! for `syslog+tcp://host:port`.
//!
//! Checked against the ABNF of RFC 5424 §6 (its text, read for this
//! module; the parts that matter here):
//!
//! ```text
//! SYSLOG-MSG      = HEADER SP STRUCTURED-DATA [SP MSG]
//! HEADER          = PRI VERSION SP TIMESTAMP SP HOSTNAME
//!                   SP APP-NAME SP PROCID SP MSGID
//! PRIVAL          = 1*3DIGIT ; range 0 .. 191
//! HOSTNAME        = NILVALUE / 1*255PRINTUSASCII
//! APP-NAME        = NILVALUE / 1*48PRINTUSASCII
//! PROCID          = NILVALUE / 1*128PRINTUSASCII
//! MSGID           = NILVALUE / 1*32PRINTUSASCII
//! TIME-SECFRAC    = "." 1*6DIGIT
//! TIME-OFFSET     = "Z" / TIME-NUMOFFSET
//! SD-ELEMENT      = "[" SD-ID *(SP SD-PARAM) "]"
//! SD-PARAM        = PARAM-NAME "=" %d34 PARAM-VALUE %d34
//! PARAM-VALUE     = UTF-8-STRING ; '"', '\' and ']' MUST be escaped
//! SD-NAME         = 1*32PRINTUSASCII ; except '=', SP, ']', %d34
//! MSG-ANY         = *OCTET ; not starting with BOM
//! PRINTUSASCII    = %d33-126
//! ```
//!
//! So: the PRI is facility × 8 + severity, with facility ≤ 23; VERSION is
//! `1`; the timestamp is UTC with `T`, `Z` and at most 6 fraction digits
//! (ul's nanoseconds are cut to microseconds, not rounded, so that a
//! message never shows a later time than its record); the header fields
//! are printable US-ASCII with their maximum lengths ([`Rfc5424`]
//! sanitizes them once, at construction); the SD-ID is a private
//! `name@PEN` (no `@` is reserved for IANA-registered IDs), `ul@32473` by
//! default, 32473 being the enterprise number RFC 5612 reserves for
//! documentation, so sites with a PEN of their own should set theirs; MSG
//! is sent as given, without the BOM (MSG-ANY), so it must not start with
//! one.
//!
//! RFC 6587 §3.4.1 octet counting (its ABNF as quoted by several
//! implementations; the RFC's own text was not at hand):
//! `SYSLOG-FRAME = MSG-LEN SP SYSLOG-MSG`, `MSG-LEN = NONZERO-DIGIT
//! *DIGIT`, the octet count of SYSLOG-MSG, so never 0 and without leading
//! zeros. rsyslog's imtcp takes a frame that starts with a digit as
//! octet-counted; the tests check byte-for-byte delivery through it.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use chrono::{Datelike, Timelike};
use ul_ring::record::Level;

use super::TransportError;

/// The SD-ID [`Rfc5424::new`] uses: `ul` under the documentation
/// enterprise number of RFC 5612.
pub const DEFAULT_SD_ID: &str = "ul@32473";

/// Facility `user` ("user-level messages"), what libc's `syslog()` uses.
pub const FACILITY_USER: u8 = 1;

/// How long [`SyslogTcp`] waits for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a write to a receiver may block (its socket buffer full)
/// before the call fails and the connection is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// One record, as the message builder needs it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The record's level: the message's severity.
    pub level: Level,
    /// When the record was made, in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// The producer's process id: PROCID, and `pid` in the SD.
    pub pid: u32,
    /// The producer's thread id: `tid` in the SD.
    pub tid: u32,
    /// The lane the record came from (`lane` in the SD), if any.
    pub lane: Option<u32>,
    /// The record's position in its lane: `seq` in the SD.
    pub seq: u64,
    /// MSG, as sent (no BOM is added; it must not start with one).
    pub msg: &'a [u8],
}

/// The severity (RFC 5424 §6.2.1) of a ul level: error 3, warn 4, info 6,
/// debug and trace 7 (syslog has nothing below debug).
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The fixed parts of the RFC 5424 messages of one sink, sanitized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc5424 {
    facility: u8,
    hostname: String,
    app_name: String,
    sd_id: String,
}

impl Rfc5424 {
    /// Messages from `app_name` on this host (`gethostname()`), facility
    /// user, SD-ID [`DEFAULT_SD_ID`].
    pub fn new(app_name: &str) -> Self {
        Self::with_fields(FACILITY_USER, &local_hostname(), app_name, DEFAULT_SD_ID)
    }

    /// Messages with the fields given, each sanitized: HOSTNAME (≤ 255)
    /// and APP-NAME (≤ 48) to printable US-ASCII, SD-ID (≤ 32) to an
    /// SD-NAME; a space or any other character outside the set becomes
    /// `_`, a longer value is cut, an empty one becomes `-` (NILVALUE; for
    /// the SD-ID, which may not be nil, [`DEFAULT_SD_ID`]). A facility
    /// above 23 becomes user.
    pub fn with_fields(facility: u8, hostname: &str, app_name: &str, sd_id: &str) -> Self {
        let mut s = Self {
            facility: FACILITY_USER,
            hostname: String::new(),
            app_name: sanitize(app_name, 48, b""),
            sd_id: String::new(),
        };
        s.set_facility(facility);
        s.set_hostname(hostname);
        s.set_sd_id(sd_id);
        s
    }

    /// Sets the facility (0..=23); a larger value becomes user (1).
    pub fn set_facility(&mut self, facility: u8) {
        self.facility = if facility <= 23 {
            facility
        } else {
            FACILITY_USER
        };
    }

    /// Sets HOSTNAME, sanitized as in [`with_fields`](Self::with_fields).
    pub fn set_hostname(&mut self, hostname: &str) {
        self.hostname = sanitize(hostname, 255, b"");
    }

    /// Sets the SD-ID, sanitized as in [`with_fields`](Self::with_fields).
    pub fn set_sd_id(&mut self, sd_id: &str) {
        let s = sanitize(sd_id, 32, b"= ]\"");
        self.sd_id = if s == "-" {
            DEFAULT_SD_ID.to_owned()
        } else {
            s
        };
    }

    /// The facility.
    pub fn facility(&self) -> u8 {
        self.facility
    }

    /// HOSTNAME, as sent.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// APP-NAME, as sent.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }

    /// The SD-ID, as sent.
    pub fn sd_id(&self) -> &str {
        &self.sd_id
    }

    /// Appends one SYSLOG-MSG (no framing, no trailing LF) to `out`:
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PID - [SD-ID pid="…" tid="…"
    /// lane="…" seq="…"] MSG` (`lane` only when the record has one).
    ///
    /// ```
    /// use ul_writer::internals::forward::syslog::{Message, Rfc5424};
    /// use ul_ring::record::Level;
    /// let f = Rfc5424::with_fields(1, "host", "app", "ul@32473");
    /// let mut out = Vec::new();
    /// f.message(&mut out, &Message {
    ///     level: Level::Info, timestamp_ns: 1_735_689_600_123_456_789,
    ///     pid: 42, tid: 43, lane: Some(3), seq: 680, msg: b"hello",
    /// });
    /// assert_eq!(
    ///     out,
    ///     b"<14>1 2025-01-01T00:00:00.123456Z host app 42 - \
    ///       [ul@32473 pid=\"42\" tid=\"43\" lane=\"3\" seq=\"680\"] hello"
    /// );
    /// ```
    pub fn message(&self, out: &mut Vec<u8>, m: &Message<'_>) {
        let mut n = itoa::Buffer::new();
        out.push(b'<');
        out.extend_from_slice(
            n.format(u16::from(self.facility) * 8 + u16::from(severity(m.level)))
                .as_bytes(),
        );
        out.extend_from_slice(b">1 ");
        timestamp(out, m.timestamp_ns);
        out.push(b' ');
        out.extend_from_slice(self.hostname.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.app_name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(n.format(m.pid).as_bytes());
        out.extend_from_slice(b" - [");
        out.extend_from_slice(self.sd_id.as_bytes());
        param(out, "pid", n.format(m.pid).as_bytes());
        param(out, "tid", n.format(m.tid).as_bytes());
        if let Some(lane) = m.lane {
            param(out, "lane", n.format(lane).as_bytes());
        }
        param(out, "seq", n.format(m.seq).as_bytes());
        out.extend_from_slice(b"] ");
        out.extend_from_slice(m.msg);
    }
}

/// Appends ` name="value"` with `"`, `\` and `]` escaped by `\`.
fn param(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    for &b in value {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC; nanoseconds cut to
/// microseconds).
fn timestamp(out: &mut Vec<u8>, ns: u64) {
    let secs = (ns / 1_000_000_000) as i64;
    let micros = (ns % 1_000_000_000 / 1_000) as u32;
    // A u64 of nanoseconds ends in 2554: always representable.
    let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    digits(out, dt.year() as u32, 4);
    for (sep, v, width) in [
        (b'-', dt.month(), 2),
        (b'-', dt.day(), 2),
        (b'T', dt.hour(), 2),
        (b':', dt.minute(), 2),
        (b':', dt.second(), 2),
        (b'.', micros, 6),
    ] {
        out.push(sep);
        digits(out, v, width);
    }
    out.push(b'Z');
}

/// Appends the `width` (≤ 6) low decimal digits of `v`, zero-padded.
fn digits(out: &mut Vec<u8>, mut v: u32, width: usize) {
    let mut buf = [b'0'; 6];
    for d in buf[..width].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// `s` with each character outside PRINTUSASCII (or in `also`) replaced by
/// `_`, cut to `max` bytes; `-` (NILVALUE) if empty.
fn sanitize(s: &str, max: usize, also: &[u8]) -> String {
    let out: String = s
        .chars()
        .map(|c| match u8::try_from(c) {
            Ok(b @ 33..=126) if !also.contains(&b) => c,
            _ => '_',
        })
        .take(max)
        .collect();
    if out.is_empty() {
        "-".to_owned()
    } else {
        out
    }
}

/// This host's name (`gethostname()`), or `-` if it cannot be had.
fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which lives across the
    // call; gethostname writes at most `len` bytes into it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "-".to_owned();
    }
    // POSIX leaves the terminating NUL out when the name was cut.
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Appends one RFC 6587 octet-counted frame: `MSG-LEN SP SYSLOG-MSG`.
/// `msg` must not be empty (MSG-LEN may not be 0; no SYSLOG-MSG is empty).
///
/// ```
/// let mut out = Vec::new();
/// ul_writer::internals::forward::syslog::frame(&mut out, b"<14>1 - - - - - -");
/// assert_eq!(out, b"17 <14>1 - - - - - -");
/// ```
pub fn frame(out: &mut Vec<u8>, msg: &[u8]) {
    out.extend_from_slice(itoa::Buffer::new().format(msg.len()).as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// A client for `syslog+tcp://host:port`: octet-counted RFC 5424 messages
/// over one TCP connection, reconnecting on the next call after an error.
///
/// There are no acknowledgements in this protocol: [`send`](Self::send)
/// returning `Ok` means only that the frames are in this host's TCP send
/// buffer. What a connection reset or a receiver's death loses, without
/// any error here, is what was then
/// - in this host's send queue, and on the network,
/// - in the receiver's socket buffer and its in-memory queues, not yet
///   processed or written,
/// - plus the frame cut in the middle, which the receiver drops;
///
/// roughly the two socket buffers (Linux: up to the `net.ipv4.tcp_wmem`
/// and `tcp_rmem` maxima, 4 MiB and 6 MiB by default) and the receiver's
/// queue. Before each write the client checks whether the peer already
/// closed the connection (a restarted receiver's old connection), so that
/// a call after the receiver went away reconnects rather than writing into
/// a dead connection. Use RELP ([`super::relp`]) when losing records
/// matters.
#[derive(Debug)]
pub struct SyslogTcp {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl SyslogTcp {
    /// A client for `addr` (`host:port`); it connects on the first
    /// [`send`](Self::send).
    pub fn new(addr: String) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::new(),
        }
    }

    /// The address as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether a connection is open (as far as this client knows).
    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Sends each of `msgs` (SYSLOG-MSGs, as [`Rfc5424::message`] makes
    /// them) as one octet-counted frame, all with one write, connecting
    /// first if needed. An empty message, which no SYSLOG-MSG is and no
    /// frame can carry, is skipped. On an error the connection is dropped (the next
    /// call reconnects) and nothing of the call can be assumed delivered;
    /// on `Ok`, see the type's documentation for what can still be lost.
    pub fn send(&mut self, msgs: &[&[u8]]) -> Result<(), TransportError> {
        if msgs.is_empty() {
            return Ok(());
        }
        if self.stream.as_ref().is_some_and(|s| !peer_still_open(s)) {
            self.stream = None;
        }
        let stream = match self.stream.as_mut() {
            Some(s) => s,
            None => self.stream.insert(connect("syslog+tcp", &self.addr)?),
        };
        self.buf.clear();
        for m in msgs.iter().filter(|m| !m.is_empty()) {
            frame(&mut self.buf, m);
        }
        let r = stream.write_all(&self.buf);
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        r.map_err(|source| {
            self.stream = None;
            TransportError::Io {
                proto: "syslog+tcp",
                peer: self.addr.clone(),
                op: "write",
                source,
            }
        })
    }
}

/// Whether the peer has not closed `s`: a non-blocking peek that finds
/// neither EOF nor an error. (A syslog receiver sends nothing, so any
/// byte is unexpected but harmless; for RELP, bytes waiting when nothing
/// is in flight can only be a `serverclose`, which the next read reports.)
pub(crate) fn peer_still_open(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let open = match s.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).is_ok() && open
}

/// Connects to `addr` (each address it resolves to in turn, 2 s each),
/// with TCP_NODELAY.
pub(crate) fn connect(proto: &'static str, addr: &str) -> Result<TcpStream, TransportError> {
    let err = |source| TransportError::Connect {
        proto,
        peer: addr.to_owned(),
        source,
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
    for a in addr.to_socket_addrs().map_err(err)? {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                // Frames are written whole, one write per call: no reason
                // to hold the last segment back.
                s.set_nodelay(true).map_err(err)?;
                // A receiver that accepts and stops reading must not hold
                // the sink's thread (and the writer's exit) for ever: the
                // write fails, the call is sent again later.
                s.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(err)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(err(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(level: Level, lane: Option<u32>) -> Vec<u8> {
        let f = Rfc5424::with_fields(1, "h.example", "server", DEFAULT_SD_ID);
        let mut out = b"keep".to_vec();
        f.message(
            &mut out,
            &Message {
                level,
                // 2025-01-01T00:00:00Z + 1.000999999 s: the microseconds
                // are cut, not rounded.
                timestamp_ns: 1_735_689_601_000_999_999,
                pid: 4242,
                tid: 4243,
                lane,
                seq: 18_446_744_073_709_551_615,
                msg: b"a \"q\" ] \\ \xc3\xa9",
            },
        );
        out
    }

    #[test]
    fn message_bytes_for_each_level() {
        for (level, pri) in [
            (Level::Error, "11"),
            (Level::Warn, "12"),
            (Level::Info, "14"),
            (Level::Debug, "15"),
            (Level::Trace, "15"),
        ] {
            let want = format!(
                "keep<{pri}>1 2025-01-01T00:00:01.000999Z h.example server 4242 - \
                 [ul@32473 pid=\"4242\" tid=\"4243\" lane=\"7\" seq=\"18446744073709551615\"] \
                 a \"q\" ] \\ \u{e9}"
            );
            assert_eq!(String::from_utf8(msg(level, Some(7))).unwrap(), want);
        }
        let no_lane = String::from_utf8(msg(Level::Info, None)).unwrap();
        assert!(
            no_lane.contains("[ul@32473 pid=\"4242\" tid=\"4243\" seq=\"18446744073709551615\"] a")
        );
    }

    #[test]
    fn facility_and_timestamp_edges() {
        let mut f = Rfc5424::with_fields(23, "h", "a", "x@1");
        let mut out = Vec::new();
        let m = Message {
            level: Level::Debug,
            timestamp_ns: 0,
            pid: 0,
            tid: 0,
            lane: None,
            seq: 0,
            msg: b"",
        };
        f.message(&mut out, &m);
        assert_eq!(
            out,
            b"<191>1 1970-01-01T00:00:00.000000Z h a 0 - [x@1 pid=\"0\" tid=\"0\" seq=\"0\"] "
        );
        f.set_facility(24);
        assert_eq!(f.facility(), 1);
        out.clear();
        f.message(
            &mut out,
            &Message {
                timestamp_ns: u64::MAX,
                ..m
            },
        );
        assert!(
            out.starts_with(b"<15>1 2554-07-21T23:34:33.709551Z "),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn param_values_are_escaped() {
        let mut out = Vec::new();
        param(&mut out, "k", b"a\"b\\c]d");
        assert_eq!(out, br#" k="a\"b\\c\]d""#);
    }

    #[test]
    fn fields_are_sanitized() {
        let f = Rfc5424::with_fields(1, "my host\u{e9}\n", "", "a b=c]d\"e@1");
        assert_eq!(f.hostname(), "my_host__");
        assert_eq!(f.app_name(), "-");
        assert_eq!(f.sd_id(), "a_b_c_d_e@1");
        let long = "x".repeat(300);
        let f = Rfc5424::with_fields(1, &long, &long, &long);
        assert_eq!(f.hostname().len(), 255);
        assert_eq!(f.app_name().len(), 48);
        assert_eq!(f.sd_id().len(), 32);
        assert_eq!(Rfc5424::with_fields(1, "", "a", "").sd_id(), DEFAULT_SD_ID);
        assert_eq!(Rfc5424::with_fields(1, "", "a", "").hostname(), "-");
        assert!(Rfc5424::new("app")
            .hostname()
            .bytes()
            .all(|b| (33..=126).contains(&b)));
    }

    #[test]
    fn octet_counting_frames() {
        let mut out = Vec::new();
        frame(&mut out, b"abc");
        frame(&mut out, &[b'x'; 1000]);
        let mut want = b"3 abc1000 ".to_vec();
        want.extend_from_slice(&[b'x'; 1000]);
        assert_eq!(out, want);
    }

    #[test]
    fn refused_connection_is_a_connect_error() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = SyslogTcp::new(format!("127.0.0.1:{port}"));
        let e = c.send(&[b"x"]).unwrap_err();
        assert!(matches!(e, TransportError::Connect { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("syslog+tcp 127.0.0.1:{port}: connect: ")),
            "{e}"
        );
        assert!(!c.is_connected());
    }
}
