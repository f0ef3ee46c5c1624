//! Format strings parsed as `format!` parses them (`std::fmt`'s grammar).
//!
//! What this does not understand it refuses (`None`), and the caller then
//! hands the whole call to `format!`, which either formats it (a form this
//! parser does not know) or reports the mistake in rustc's own words.

/// A piece of a format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text (braces unescaped).
    Lit(String),
    /// A placeholder.
    Arg(Placeholder),
}

/// `{arg:spec}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// Which argument it formats.
    pub arg: ArgRef,
    /// How.
    pub spec: Spec,
}

/// How a placeholder or a count names its argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ArgRef {
    /// `{}`: the next positional argument.
    Next,
    /// `{2}`.
    Index(usize),
    /// `{name}`: a named argument, or else a variable captured from the
    /// caller's scope.
    Name(String),
}

/// A width or a precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    /// `8`.
    Is(usize),
    /// `1$` or `name$`.
    Arg(ArgRef),
    /// `.*`: the next positional argument, before the value.
    Star,
}

/// `[[fill]align][sign][#][0][width][.precision][type]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spec {
    /// Fill character (only with `align`).
    pub fill: Option<char>,
    /// `<`, `^` or `>`.
    pub align: Option<char>,
    /// `+` or `-`.
    pub sign: Option<char>,
    /// `#`.
    pub alternate: bool,
    /// `0`.
    pub zero: bool,
    /// Minimum width.
    pub width: Option<Count>,
    /// Precision.
    pub precision: Option<Count>,
    /// The trait: `""` (Display), `?`, `x?`, `X?`, `x`, `X`, `o`, `b`, `e`,
    /// `E`, `p`, ...
    pub ty: String,
}

impl Spec {
    /// The spec as written after `:` (empty for `{}`), with counts that
    /// name arguments written as given by `count`.
    pub(crate) fn render(&self, mut count: impl FnMut(&Count) -> String) -> String {
        let mut s = String::new();
        if let Some(a) = self.align {
            if let Some(f) = self.fill {
                s.push(f);
            }
            s.push(a);
        }
        if let Some(sign) = self.sign {
            s.push(sign);
        }
        if self.alternate {
            s.push('#');
        }
        if self.zero {
            s.push('0');
        }
        if let Some(w) = &self.width {
            s.push_str(&count(w));
        }
        if let Some(p) = &self.precision {
            s.push('.');
            s.push_str(&count(p));
        }
        s.push_str(&self.ty);
        s
    }
}

/// Splits `fmt` into pieces; `None` if it is not a format string this
/// parser reads exactly as `format!` does.
pub(crate) fn parse(fmt: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                chars.next();
                lit.push('}');
            }
            '}' => return None,
            '{' => {
                let close = fmt[i + 1..].find('}')? + i + 1;
                let placeholder = placeholder(&fmt[i + 1..close])?;
                while chars.peek().is_some_and(|&(j, _)| j <= close) {
                    chars.next();
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Arg(placeholder));
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Some(pieces)
}

/// The inside of `{...}`.
fn placeholder(s: &str) -> Option<Placeholder> {
    let (arg, spec) = match s.split_once(':') {
        Some((a, sp)) => (a, Some(sp)),
        None => (s, None),
    };
    let arg = if arg.is_empty() {
        ArgRef::Next
    } else {
        arg_ref(arg)?
    };
    let spec = match spec {
        Some(sp) => parse_spec(sp)?,
        None => Spec::default(),
    };
    Some(Placeholder { arg, spec })
}

/// An index or an identifier.
fn arg_ref(s: &str) -> Option<ArgRef> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().map(ArgRef::Index);
    }
    is_identifier(s).then(|| ArgRef::Name(s.to_owned()))
}

/// A Rust identifier (not `_`, not a raw one).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s != "_"
        && (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// A spec, the part after `:`.
fn parse_spec(s: &str) -> Option<Spec> {
    let mut spec = Spec::default();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let is_align = |c: char| matches!(c, '<' | '^' | '>');
    if chars.len() >= 2 && is_align(chars[1]) {
        spec.fill = Some(chars[0]);
        spec.align = Some(chars[1]);
        i = 2;
    } else if chars.first().is_some_and(|&c| is_align(c)) {
        spec.align = Some(chars[0]);
        i = 1;
    }
    if let Some(&c @ ('+' | '-')) = chars.get(i) {
        spec.sign = Some(c);
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        spec.alternate = true;
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        if chars.get(i + 1) == Some(&'$') {
            spec.width = Some(Count::Arg(ArgRef::Index(0)));
            i += 2;
        } else {
            spec.zero = true;
            i += 1;
        }
    }
    let rest: String = chars[i..].iter().collect();
    let mut rest = rest.as_str();
    if spec.width.is_none() {
        if let Some((count, after)) = count(rest) {
            spec.width = Some(count);
            rest = after;
        }
    }
    if let Some(after) = rest.strip_prefix('.') {
        if let Some(after) = after.strip_prefix('*') {
            spec.precision = Some(Count::Star);
            rest = after;
        } else {
            let (count, after) = count(after)?;
            spec.precision = Some(count);
            rest = after;
        }
    }
    spec.ty = match rest {
        "" | "?" | "x?" | "X?" => rest.to_owned(),
        t if is_identifier(t) => t.to_owned(),
        _ => return None,
    };
    Some(spec)
}

/// A count at the start of `s`: `12`, `1$` or `name$`; `None` if there is
/// none (an identifier without `$` is the type, not a count).
fn count(s: &str) -> Option<(Count, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let n: usize = s[..digits].parse().ok()?;
        return Some(match s[digits..].strip_prefix('$') {
            Some(after) => (Count::Arg(ArgRef::Index(n)), after),
            None => (Count::Is(n), &s[digits..]),
        });
    }
    let end = s.find('$')?;
    is_identifier(&s[..end]).then(|| (Count::Arg(ArgRef::Name(s[..end].to_owned())), &s[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(fmt: &str) -> Placeholder {
        match parse(fmt).unwrap().as_slice() {
            [Piece::Arg(p)] => p.clone(),
            other => panic!("{fmt}: {other:?}"),
        }
    }

    #[test]
    fn literals_and_escapes() {
        assert_eq!(parse("a {{b}} c").unwrap(), [Piece::Lit("a {b} c".into())]);
        assert_eq!(parse("}"), None);
        assert_eq!(parse("{"), None);
        assert_eq!(parse("{:x y}"), None);
    }

    #[test]
    fn arguments() {
        assert_eq!(one("{}").arg, ArgRef::Next);
        assert_eq!(one("{3}").arg, ArgRef::Index(3));
        assert_eq!(one("{user}").arg, ArgRef::Name("user".into()));
        assert_eq!(one("{été}").arg, ArgRef::Name("été".into()));
        assert_eq!(parse("{_}"), None);
        assert_eq!(parse("{a-b}"), None);
    }

    #[test]
    fn specs_render_as_written() {
        for s in [
            "",
            "?",
            "#?",
            "x?",
            "#X?",
            ">8",
            "*^9",
            "é>7",
            "+#010x",
            "-",
            ".3",
            "10.3e",
            "<5?",
            "0",
            "1",
            "w$",
            ".p$",
            "1$.2$",
            ".*",
            ">+#014.1E",
            "p",
        ] {
            let p = one(&format!("{{:{s}}}"));
            let back = p.spec.render(|c| match c {
                Count::Is(n) => n.to_string(),
                Count::Arg(ArgRef::Index(i)) => format!("{i}$"),
                Count::Arg(ArgRef::Name(n)) => format!("{n}$"),
                Count::Arg(ArgRef::Next) => unreachable!(),
                Count::Star => "*".into(),
            });
            assert_eq!(back, s, "{s}: {:?}", p.spec);
        }
    }

    #[test]
    fn zero_dollar_is_a_width_argument() {
        let p = one("{:0$}");
        assert_eq!(p.spec.width, Some(Count::Arg(ArgRef::Index(0))));
        assert!(!p.spec.zero);
        let p = one("{:05}");
        assert!(p.spec.zero);
        assert_eq!(p.spec.width, Some(Count::Is(5)));
    }

    #[test]
    fn a_word_without_dollar_is_the_type() {
        let p = one("{:x}");
        assert_eq!(p.spec.width, None);
        assert_eq!(p.spec.ty, "x");
        let p = one("{:width$x}");
        assert_eq!(p.spec.width, Some(Count::Arg(ArgRef::Name("width".into()))));
        assert_eq!(p.spec.ty, "x");
    }
}
