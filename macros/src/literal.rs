//! The value of a string literal token, as rustc reads it.

/// The text of a string literal's source (`"a\n"`, `r#"a"#`), unescaped;
/// `None` for anything else (byte and C strings, suffixes) or an escape
/// this does not know, so that the caller falls back to `format!`, which
/// reports what is wrong in rustc's own words.
///
/// ```ignore
/// assert_eq!(string_value(r#""a\n{}""#).as_deref(), Some("a\n{}"));
/// assert_eq!(string_value(r####"r#"x"#"####).as_deref(), Some("x"));
/// assert_eq!(string_value("b\"x\""), None);
/// ```
pub(crate) fn string_value(src: &str) -> Option<String> {
    if let Some(raw) = src.strip_prefix('r') {
        let hashes = raw.bytes().take_while(|&b| b == b'#').count();
        let body = raw[hashes..].strip_prefix('"')?;
        let body = body.strip_suffix(&raw[..hashes])?.strip_suffix('"')?;
        // Raw strings keep every byte but CRLF, which rustc reads as LF.
        return Some(body.replace("\r\n", "\n"));
    }
    let body = src.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '\\' => out.push('\\'),
            '0' => out.push('\0'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'x' => {
                let hi = chars.next()?.to_digit(8)?;
                let lo = chars.next()?.to_digit(16)?;
                out.push(char::from_u32(hi * 16 + lo)?);
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let mut v = 0u32;
                let mut digits = 0;
                loop {
                    match chars.next()? {
                        '}' => break,
                        '_' => {}
                        d => {
                            v = v.checked_mul(16)?.checked_add(d.to_digit(16)?)?;
                            digits += 1;
                        }
                    }
                }
                if digits == 0 || digits > 6 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            // A line continuation: the newline and the whitespace after it
            // are dropped.
            '\n' => {
                while chars
                    .peek()
                    .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
                {
                    chars.next();
                }
            }
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                while chars
                    .peek()
                    .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
                {
                    chars.next();
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::string_value;

    #[test]
    fn literals_read_as_rustc_reads_them() {
        assert_eq!(string_value(r#""a\n{}""#).as_deref(), Some("a\n{}"));
        assert_eq!(
            string_value(r#""\x41\u{1F600}\u{e9}\t\\\"\'\0""#).as_deref(),
            Some("A\u{1F600}\u{e9}\t\\\"'\0")
        );
        assert_eq!(string_value("\"a\\\n    b\"").as_deref(), Some("ab"));
        assert_eq!(string_value("r\"x\\n\"").as_deref(), Some("x\\n"));
        assert_eq!(string_value("r##\"a\"#b\"##").as_deref(), Some("a\"#b"));
        assert_eq!(string_value("\"caf\u{e9}\"").as_deref(), Some("caf\u{e9}"));
    }

    #[test]
    fn other_literals_are_refused() {
        for src in [
            "b\"x\"",
            "c\"x\"",
            "'x'",
            "1",
            "\"x\"suffix",
            "\"\\q\"",
            "\"\\x80\"",
            "\"\\u{110000}\"",
        ] {
            assert_eq!(string_value(src), None, "{src}");
        }
    }
}
