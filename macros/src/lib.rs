//! The compile-time half of `ul`'s log macros. Use the macros in `ul`
//! (`ul::info!` and the rest); this crate is their implementation.
//!
//! `ul`'s `macro_rules!` front end sorts a call's tokens (level, source,
//! context, format string, arguments, key-value pairs) and hands them to
//! [`log_call!`], which reads the format string as `format!` reads it:
//! captured identifiers (`{user}`), named (`name = expr`) and positional
//! (`{0}`) arguments, and every spec. Each placeholder then becomes one
//! argument of the record, in order, and the format string the writer
//! receives has only in-order placeholders:
//!
//! - a value the codec carries raw (integers, floats, `bool`, `char`,
//!   strings) goes raw, and the writer formats it with the placeholder's
//!   spec, exactly as `format!` does;
//! - any other value is formatted at the call site with the placeholder's
//!   whole spec (`format!("{:>8?}", v)`) and goes as text, which the
//!   writer puts in as it is;
//! - a spec the writer does not do (widths or precisions taken from
//!   arguments, `{:x?}`, `{:p}`) is formatted at the call site whatever the
//!   value's type.
//!
//! Which of the first two a value takes is decided by the type checker,
//! through method resolution on the argument (see `ul`'s `arg` module).
//! A format string this crate does not read exactly as `format!` does, and
//! any call whose arguments do not match it, is handed whole to `format!`
//! at the call site: it is then either formatted correctly (slower) or
//! refused by rustc with its own error, pointing at the call.

#![warn(missing_docs, unreachable_pub)]

use proc_macro::TokenStream;

mod expand;
mod format_string;
mod literal;

/// Expands one log call; see the crate documentation. Its input is what
/// `ul`'s `__ul_args!` produces, not something to write by hand:
///
/// `[$crate (level) (source) (context) "format"] [[name?] (expr) ...] [key (value) ...]`
#[proc_macro]
pub fn log_call(input: TokenStream) -> TokenStream {
    match expand::Call::parse(input) {
        Ok(call) => call.expand(),
        Err(e) => format!("::core::compile_error!({e:?});").parse().unwrap(),
    }
}
