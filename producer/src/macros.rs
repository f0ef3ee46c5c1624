//! The logging macros.

/// Logs at a given level. The level macros ([`info!`](crate::info) etc.)
/// are shorthands for it.
///
/// The format string and its arguments work as in `format!`, checked by
/// rustc the same way: captured identifiers (`{user}`), positional
/// (`{0}`) and named (`name = expr`) arguments, and every spec (`{:>8.3}`,
/// `{:#x}`, `{:?}`, `{:#?}`, `{:1$}`, `{:.*}`). Integers, floats, `bool`,
/// `char` and strings are copied raw and formatted by the writer; other
/// values are formatted at the call site.
///
/// Forms (each may end with `; key = value, ...` pairs, which go into the
/// record's context):
///
/// ```
/// # let (i, j, x) = (1u64, 2u32, 3.5f64);
/// # let log = ul::Logger::new(ul::Context::new().source("Svc"));
/// ul::log!(ul::Level::Info, "Logging int: {}, int: {}, double: {}", i, j, x);
/// ul::log!(ul::Level::Info, source: "AuthService", "User {} logged in", "ann"; user_id = "user123");
/// ul::log!(ul::Level::Warn, logger: &log, "retrying {}", 3);
/// ul::log!(ul::Level::Warn, source: "Db", logger: &log, "slow query");
/// let (user, n) = ("ann", 7u32);
/// ul::log!(ul::Level::Info, "user {user} n {n:>4} {:?} {total}", Some(1), total = n + 1);
/// ```
#[macro_export]
macro_rules! log {
    ($lvl:expr, source: $src:expr, logger: $lg:expr, $($rest:tt)+) => {
        $crate::__ul_log!($lvl, $src, ($lg).__context_id(), $($rest)+)
    };
    ($lvl:expr, logger: $lg:expr, source: $src:expr, $($rest:tt)+) => {
        $crate::__ul_log!($lvl, $src, ($lg).__context_id(), $($rest)+)
    };
    ($lvl:expr, source: $src:expr, $($rest:tt)+) => {
        $crate::__ul_log!($lvl, $src, 0u32, $($rest)+)
    };
    ($lvl:expr, logger: $lg:expr, $($rest:tt)+) => {
        $crate::__ul_log!($lvl, "", ($lg).__context_id(), $($rest)+)
    };
    ($lvl:expr, $($rest:tt)+) => {
        $crate::__ul_log!($lvl, "", 0u32, $($rest)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ul_log {
    ($lvl:expr, $src:expr, $ctx:expr, $fmt:literal $($rest:tt)*) => {
        $crate::__ul_args!(@[$crate ($lvl) ($src) ($ctx) $fmt] [] $($rest)*)
    };
}

/// Sorts a call's arguments for [`ul_macros::log_call`]: each explicit
/// argument as `[name?] (expr)`, then the `; key = value` pairs as
/// `key (value)`. (`macro_rules!` parses the expressions, so an argument
/// may hold commas inside generics or closures, as in `format!`.)
#[doc(hidden)]
#[macro_export]
macro_rules! __ul_args {
    // The end, with or without a trailing comma and pairs.
    (@$h:tt [$($acc:tt)*] $(,)?) => {
        $crate::__private::log_call!($h [$($acc)*] [])
    };
    (@$h:tt [$($acc:tt)*] $(,)? ; $($k:ident = $v:expr),+ $(,)?) => {
        $crate::__private::log_call!($h [$($acc)*] [$($k ($v))+])
    };
    // `name = expr`.
    (@$h:tt [$($acc:tt)*] , $name:ident = $e:expr , $($rest:tt)*) => {
        $crate::__ul_args!(@$h [$($acc)* [$name] ($e)] , $($rest)*)
    };
    (@$h:tt [$($acc:tt)*] , $name:ident = $e:expr ; $($rest:tt)*) => {
        $crate::__ul_args!(@$h [$($acc)* [$name] ($e)] ; $($rest)*)
    };
    (@$h:tt [$($acc:tt)*] , $name:ident = $e:expr) => {
        $crate::__ul_args!(@$h [$($acc)* [$name] ($e)])
    };
    // `expr`.
    (@$h:tt [$($acc:tt)*] , $e:expr , $($rest:tt)*) => {
        $crate::__ul_args!(@$h [$($acc)* [] ($e)] , $($rest)*)
    };
    (@$h:tt [$($acc:tt)*] , $e:expr ; $($rest:tt)*) => {
        $crate::__ul_args!(@$h [$($acc)* [] ($e)] ; $($rest)*)
    };
    (@$h:tt [$($acc:tt)*] , $e:expr) => {
        $crate::__ul_args!(@$h [$($acc)* [] ($e)])
    };
}

/// Logs at [`Level::Trace`](crate::Level::Trace); see [`log!`](crate::log) for the forms.
///
/// ```
/// ul::trace!("entering {}", "parse");
/// ```
#[macro_export]
macro_rules! trace {
    ($($t:tt)+) => { $crate::log!($crate::Level::Trace, $($t)+) };
}

/// Logs at [`Level::Debug`](crate::Level::Debug); see [`log!`](crate::log) for the forms.
///
/// ```
/// ul::debug!("cache size {}", 42u32);
/// ```
#[macro_export]
macro_rules! debug {
    ($($t:tt)+) => { $crate::log!($crate::Level::Debug, $($t)+) };
}

/// Logs at [`Level::Info`](crate::Level::Info); see [`log!`](crate::log) for the forms.
///
/// ```
/// let (i, j, x) = (1u64, 2u32, 0.5f64);
/// ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
/// ul::info!(source: "AuthService", "User {} logged in", "ann"; user_id = "user123", ip = "192.168.1.1");
/// ```
#[macro_export]
macro_rules! info {
    ($($t:tt)+) => { $crate::log!($crate::Level::Info, $($t)+) };
}

/// Logs at [`Level::Warn`](crate::Level::Warn); see [`log!`](crate::log) for the forms.
///
/// ```
/// ul::warn!("disk {}% full", 91u8);
/// ```
#[macro_export]
macro_rules! warn {
    ($($t:tt)+) => { $crate::log!($crate::Level::Warn, $($t)+) };
}

/// Logs at [`Level::Error`](crate::Level::Error); see [`log!`](crate::log) for the forms.
///
/// ```
/// ul::error!("request failed: {}", std::io::Error::other("boom"));
/// ```
#[macro_export]
macro_rules! error {
    ($($t:tt)+) => { $crate::log!($crate::Level::Error, $($t)+) };
}
