//! Forwarding records to other machines (`ul-writer --forward URL`): the
//! sinks that hold a lane's records until a receiver acknowledged them
//! ([`sink`]), the URL and the transport behind it ([`url`]), and the wire
//! formats and transport clients, each on a blocking
//! [`std::net::TcpStream`]:
//!
//! - [`relp`]: RELP, rsyslog's acknowledged protocol (`relp://host:port`).
//!   A call returns `Ok` only once the receiver acknowledged every message
//!   of it: at-least-once delivery.
//! - [`syslog`]: RFC 5424 messages in RFC 6587 octet-counting framing
//!   over plain TCP (`syslog+tcp://host:port`). No acknowledgements: a
//!   call returns `Ok` once the bytes are in the kernel's send buffer.
//!
//! Both clients report failures as [`TransportError`]; after any error the
//! connection is dropped, and the next call reconnects.

mod error;
pub mod relp;
pub mod sink;
pub mod syslog;
pub mod url;

pub use error::TransportError;
