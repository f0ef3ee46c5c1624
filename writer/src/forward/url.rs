//! `--forward URL`: which receiver, over which protocol, and the
//! [`Transport`] that sends to it.
//!
//! ```
//! use ul_writer::internals::forward::url::{ForwardUrl, Protocol};
//! let u = ForwardUrl::parse("relp://127.0.0.1:2514?window=16").unwrap();
//! assert_eq!(u.protocol, Protocol::Relp);
//! assert_eq!((u.addr.as_str(), u.window), ("127.0.0.1:2514", 16));
//! assert!(ForwardUrl::parse("http://x:1").unwrap_err().to_string().contains("relp://"));
//! ```

use super::relp::RelpClient;
use super::sink::{Outgoing, Transport};
use super::syslog::{Message, Rfc5424, SyslogTcp};

/// The protocols `--forward` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `relp://`: RELP, acknowledged (rsyslog's imrelp).
    Relp,
    /// `syslog+tcp://`: RFC 5424 in RFC 6587 octet-counting framing, not
    /// acknowledged.
    SyslogTcp,
}

/// A parsed `--forward` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardUrl {
    /// As given.
    pub text: String,
    /// The protocol.
    pub protocol: Protocol,
    /// `host:port`.
    pub addr: String,
    /// Records per call; for RELP, the most unacknowledged at a time
    /// (`?window=`, default 128).
    pub window: usize,
}

/// A `--forward` URL that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--forward {url}: {why} (use relp://HOST:PORT or syslog+tcp://HOST:PORT, optionally with ?window=N)")]
pub struct BadUrl {
    url: String,
    why: String,
}

/// Default records per call (librelp's own window).
pub const DEFAULT_WINDOW: usize = 128;

impl ForwardUrl {
    /// Parses `relp://host:port[?window=N]` or `syslog+tcp://host:port[?window=N]`.
    pub fn parse(text: &str) -> Result<Self, BadUrl> {
        let bad = |why: &str| BadUrl {
            url: text.to_string(),
            why: why.to_string(),
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let protocol = match scheme {
            "relp" => Protocol::Relp,
            "syslog+tcp" => Protocol::SyslogTcp,
            "otlp+http" => return Err(bad("OTLP is not supported yet")),
            other => return Err(bad(&format!("unknown scheme {other:?}"))),
        };
        let (addr, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let addr = addr.trim_end_matches('/');
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(bad("expected HOST:PORT"));
        }
        let mut window = DEFAULT_WINDOW;
        for kv in query.into_iter().flat_map(|q| q.split('&')) {
            match kv.split_once('=') {
                Some(("window", n)) => {
                    window = n
                        .parse()
                        .ok()
                        .filter(|&n: &usize| (1..=100_000).contains(&n))
                        .ok_or_else(|| bad("window must be a number from 1 to 100000"))?;
                }
                _ => return Err(bad(&format!("unknown option {kv:?}"))),
            }
        }
        Ok(ForwardUrl {
            text: text.to_string(),
            protocol,
            addr: addr.to_string(),
            window,
        })
    }

    /// The transport for this URL, its messages carrying `app_name` (the
    /// writer's `--name`) and this host's name.
    pub fn transport(&self, app_name: &str) -> Box<dyn Transport> {
        let header = Rfc5424::new(app_name);
        match self.protocol {
            Protocol::Relp => Box::new(Syslog {
                header,
                client: Client::Relp(RelpClient::new(self.addr.clone(), self.window)),
                window: self.window,
                buf: Vec::new(),
                ends: Vec::new(),
            }),
            Protocol::SyslogTcp => Box::new(Syslog {
                header,
                client: Client::Tcp(SyslogTcp::new(self.addr.clone())),
                window: self.window,
                buf: Vec::new(),
                ends: Vec::new(),
            }),
        }
    }
}

enum Client {
    Relp(RelpClient),
    Tcp(SyslogTcp),
}

/// RFC 5424 messages, each record's text line as MSG, over RELP or TCP.
struct Syslog {
    header: Rfc5424,
    client: Client,
    window: usize,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Transport for Syslog {
    fn deliver(&mut self, records: &[Outgoing<'_>]) -> Result<(), String> {
        self.buf.clear();
        self.ends.clear();
        for r in records {
            self.header.message(
                &mut self.buf,
                &Message {
                    level: r.level,
                    timestamp_ns: r.timestamp_ns,
                    pid: r.pid,
                    tid: r.tid,
                    lane: Some(r.lane),
                    seq: r.seq,
                    msg: r.line,
                },
            );
            self.ends.push(self.buf.len());
        }
        let mut msgs = Vec::with_capacity(self.ends.len());
        let mut at = 0;
        for &end in &self.ends {
            msgs.push(&self.buf[at..end]);
            at = end;
        }
        let sent = match &mut self.client {
            Client::Relp(c) => c.send(&msgs),
            Client::Tcp(c) => c.send(&msgs),
        };
        if self.buf.capacity() > 4 << 20 {
            self.buf = Vec::new();
        }
        sent.map_err(|e| e.to_string())
    }

    fn window(&self) -> usize {
        self.window
    }
}
