//! The logging macros.

/// Logs at a given level. The level macros ([`info!`](crate::info) etc.)
/// are shorthands for it.
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
    ($lvl:expr, $src:expr, $ctx:expr, $fmt:literal $(, $arg:expr)* $(,)? $(; $($k:ident = $v:expr),+ $(,)?)?) => {{
        static __UL_CALLSITE: $crate::__private::Callsite = $crate::__private::Callsite::new(
            $lvl,
            $fmt,
            $src,
            ::core::file!(),
            ::core::line!(),
            ::core::module_path!(),
            &[$($(::core::stringify!($k)),+)?],
        );
        if $crate::__private::enabled($lvl) {
            #[allow(unused_imports)]
            use $crate::__private::{ViaArg as _, ViaDisplay as _};
            $crate::__private::emit(
                &__UL_CALLSITE,
                $ctx,
                &(
                    $((&&$crate::__private::Wrap(&$arg)).__ul_prepare(),)*
                    $($((&&$crate::__private::Wrap(&$v)).__ul_prepare(),)+)?
                ),
            );
        }
    }};
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
