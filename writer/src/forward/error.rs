//! The error both transport clients return.

use std::io;
use std::time::Duration;

use super::relp::FrameError;

/// Why a transport call failed. Every variant names the protocol and the
/// peer address, so that the message alone tells an operator which sink
/// and what to look at; the connection is always dropped when one is
/// returned, and the caller is to treat the whole call as not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The address did not resolve, or no address it resolves to accepted
    /// a connection (refused, unreachable, timed out).
    #[error("{proto} {peer}: connect: {source}")]
    Connect {
        /// `relp` or `syslog+tcp`.
        proto: &'static str,
        /// The address as configured (`host:port`).
        peer: String,
        /// The last connect (or resolve) error.
        source: io::Error,
    },
    /// Reading or writing an open connection failed.
    #[error("{proto} {peer}: {op}: {source}")]
    Io {
        /// `relp` or `syslog+tcp`.
        proto: &'static str,
        /// The address as configured (`host:port`).
        peer: String,
        /// `write` or `read`.
        op: &'static str,
        /// The error the socket gave.
        source: io::Error,
    },
    /// No response arrived within the read timeout while frames were
    /// waiting for one.
    #[error("relp {peer}: no rsp within {:?} (oldest unacknowledged txnr {txnr}, {in_flight} in flight)", timeout)]
    Timeout {
        /// The address as configured (`host:port`).
        peer: String,
        /// How long the client waited.
        timeout: Duration,
        /// The transaction number waited for.
        txnr: u32,
        /// Frames sent and not acknowledged.
        in_flight: usize,
    },
    /// The server closed the connection (EOF, or RELP's `serverclose`
    /// hint) while frames were not acknowledged or a response was due.
    #[error("relp {peer}: connection closed by the server ({how}) with {in_flight} frame(s) unacknowledged")]
    Closed {
        /// The address as configured (`host:port`).
        peer: String,
        /// `EOF` or `serverclose`.
        how: &'static str,
        /// Frames sent and not acknowledged.
        in_flight: usize,
    },
    /// The server answered a command with a code other than 200.
    #[error("relp {peer}: rsp {code} for txnr {txnr} ({command}): {text}")]
    Refused {
        /// The address as configured (`host:port`).
        peer: String,
        /// The refused command (`open`, `syslog`, `close`).
        command: &'static str,
        /// The transaction number of the refused command.
        txnr: u32,
        /// The response code (RELP: three digits, 200 = OK).
        code: u16,
        /// The response's human-readable text (lossily decoded).
        text: String,
    },
    /// The server's `open` response did not offer what the client needs
    /// (the `syslog` command, a protocol version the client speaks).
    #[error("relp {peer}: open: {what}")]
    Offer {
        /// The address as configured (`host:port`).
        peer: String,
        /// What was missing or wrong.
        what: String,
    },
    /// The server sent bytes that are not a RELP frame.
    #[error("relp {peer}: bad frame from the server: {source}")]
    Frame {
        /// The address as configured (`host:port`).
        peer: String,
        /// What was wrong, and where in the stream.
        source: FrameError,
    },
    /// A well-formed frame that is not what the protocol allows here (a
    /// response for a transaction that is not the oldest in flight, a
    /// command the server may not send).
    #[error("relp {peer}: protocol: {what}")]
    Protocol {
        /// The address as configured (`host:port`).
        peer: String,
        /// What was unexpected.
        what: String,
    },
}
