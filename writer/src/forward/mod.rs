//! Forwarding: `ul-writer --forward URL` sends each record, as its text
//! line, to a receiver beside the files (see [`sink`]).
pub mod sink;
