//! One log call: its parts, read from the front end's tokens, and the code
//! it expands to.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::format_string::{self, ArgRef, Count, Piece, Placeholder, Spec};
use crate::literal::string_value;

/// Widest width or precision the writer applies (`MAX_WIDTH` in
/// ul-writer); a placeholder asking for more is formatted at the call site.
const WRITER_MAX_WIDTH: usize = 4096;

/// Most arguments a record's argument tuple takes (`ArgList` is
/// implemented for tuples up to 16).
const MAX_ARGS: usize = 16;

/// A log call as the front end hands it over.
pub(crate) struct Call {
    krate: TokenTree,
    level: TokenStream,
    source: TokenStream,
    context: TokenStream,
    format: Literal,
    /// Explicit arguments in order: `name = expr` or `expr`.
    args: Vec<(Option<Ident>, TokenStream)>,
    /// `; key = value` pairs.
    pairs: Vec<(Ident, TokenStream)>,
}

/// What one placeholder becomes.
enum Slot {
    /// The value goes raw when its type allows (the writer applies `spec`),
    /// else formatted here with the same spec.
    Raw {
        value: usize,
        spec: Spec,
        radix: bool,
    },
    /// Formatted here whatever its type: `format` applied to the values
    /// `args` (locals) names.
    Formatted { format: String, args: Vec<usize> },
}

/// The placeholders resolved to locals, and the format string the writer
/// receives.
struct Plan {
    /// Local `i` is `&` of this: an explicit argument's expression, or a
    /// captured variable.
    locals: Vec<TokenStream>,
    /// Where each local's value was written (its expression, or the
    /// format string for a captured variable): rustc's errors about the
    /// value point there.
    spans: Vec<Span>,
    slots: Vec<Slot>,
    writer_format: String,
}

impl Call {
    /// Reads `[$crate (level) (source) (context) "format"] [[name?] (expr) ...] [key (value) ...]`.
    pub(crate) fn parse(input: TokenStream) -> Result<Call, String> {
        let mut top = input.into_iter();
        let mut bracket = |what: &str| match top.next() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => Ok(g.stream()),
            _ => Err(format!("ul::log_call: expected [{what}]")),
        };
        let head = bracket("head")?;
        let args = bracket("arguments")?;
        let pairs = bracket("key-value pairs")?;

        let mut head = head.into_iter();
        let krate = head.next().ok_or("ul::log_call: no crate path")?;
        let mut paren = |what: &str| match head.next() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => Ok(g.stream()),
            _ => Err(format!("ul::log_call: expected ({what})")),
        };
        let level = paren("level")?;
        let source = paren("source")?;
        let context = paren("context")?;
        let format = match head.next().map(unwrap_invisible) {
            Some(TokenTree::Literal(l)) => l,
            _ => return Err("ul::log_call: the format must be a string literal".into()),
        };

        let mut parsed_args = Vec::new();
        let mut it = args.into_iter();
        while let Some(tt) = it.next() {
            let name = match tt {
                TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket => {
                    match g.stream().into_iter().next() {
                        Some(TokenTree::Ident(i)) => Some(i),
                        _ => None,
                    }
                }
                _ => return Err("ul::log_call: expected [name?]".into()),
            };
            match it.next() {
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
                    parsed_args.push((name, g.stream()))
                }
                _ => return Err("ul::log_call: expected (argument)".into()),
            }
        }

        let mut parsed_pairs = Vec::new();
        let mut it = pairs.into_iter();
        while let Some(tt) = it.next() {
            let TokenTree::Ident(key) = tt else {
                return Err("ul::log_call: expected a key".into());
            };
            match it.next() {
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
                    parsed_pairs.push((key, g.stream()))
                }
                _ => return Err("ul::log_call: expected (value)".into()),
            }
        }
        Ok(Call {
            krate,
            level,
            source,
            context,
            format,
            args: parsed_args,
            pairs: parsed_pairs,
        })
    }

    /// The expansion: the raw record push when the format string and the
    /// arguments are understood, else the whole message through `format!`.
    pub(crate) fn expand(self) -> TokenStream {
        match self.plan() {
            Some(plan) if plan.slots.len() + self.pairs.len() <= MAX_ARGS => self.raw(plan),
            _ => self.through_format(),
        }
    }

    /// Resolves every placeholder to a local, as `format!` resolves them;
    /// `None` where `format!` would refuse the call or this does not know
    /// the form (then `format!` sees the call and says).
    fn plan(&self) -> Option<Plan> {
        let fmt = string_value(&self.format.to_string())?;
        let pieces = format_string::parse(&fmt)?;
        let positional = self.args.iter().take_while(|(n, _)| n.is_none()).count();
        // Positional arguments after named ones: rustc refuses.
        if self.args[positional..].iter().any(|(n, _)| n.is_none()) {
            return None;
        }
        let mut named: Vec<(String, usize)> = Vec::new();
        for (i, (name, _)) in self.args.iter().enumerate().skip(positional) {
            let name = name.as_ref()?.to_string();
            if named.iter().any(|(n, _)| *n == name) {
                return None;
            }
            named.push((name, i));
        }
        let mut locals: Vec<TokenStream> = self
            .args
            .iter()
            .map(|(_, e)| {
                TokenStream::from(TokenTree::Group(Group::new(Delimiter::None, e.clone())))
            })
            .collect();
        let mut captured: Vec<(String, usize)> = Vec::new();
        let mut used = vec![false; self.args.len()];
        let mut next = 0usize;
        let span = self.format.span();
        let mut resolve =
            |r: &ArgRef, locals: &mut Vec<TokenStream>, next: &mut usize| -> Option<usize> {
                let i = match r {
                    ArgRef::Next => {
                        *next += 1;
                        (*next - 1 < positional).then_some(*next - 1)?
                    }
                    ArgRef::Index(i) => (*i < positional).then_some(*i)?,
                    ArgRef::Name(n) => {
                        if let Some(&(_, i)) = named.iter().find(|(m, _)| m == n) {
                            i
                        } else if let Some(&(_, i)) = captured.iter().find(|(m, _)| m == n) {
                            return Some(i);
                        } else {
                            // A variable from the caller's scope, resolved
                            // where the format string was written.
                            locals.push(TokenTree::Ident(Ident::new(n, span)).into());
                            captured.push((n.clone(), locals.len() - 1));
                            return Some(locals.len() - 1);
                        }
                    }
                };
                used[i] = true;
                Some(i)
            };

        let mut slots = Vec::new();
        let mut writer_format = String::new();
        for piece in pieces {
            let Placeholder { arg, spec } = match piece {
                Piece::Lit(l) => {
                    writer_format.push_str(&l.replace('{', "{{").replace('}', "}}"));
                    continue;
                }
                Piece::Arg(p) => p,
            };
            // `.*` takes the precision first, then the value.
            let star = match spec.precision {
                Some(Count::Star) => Some(resolve(&ArgRef::Next, &mut locals, &mut next)?),
                _ => None,
            };
            let value = resolve(&arg, &mut locals, &mut next)?;
            let mut count_local = |c: &Option<Count>| -> Option<Option<usize>> {
                match c {
                    Some(Count::Arg(r)) => Some(Some(resolve(r, &mut locals, &mut next)?)),
                    _ => Some(None),
                }
            };
            let width = count_local(&spec.width)?;
            let precision = match star {
                Some(i) => Some(i),
                None => count_local(&spec.precision)?,
            };
            if writer_does(&spec) {
                writer_format.push('{');
                let s = spec.render(render_count);
                if !s.is_empty() {
                    writer_format.push(':');
                    writer_format.push_str(&s);
                }
                writer_format.push('}');
                let radix = matches!(spec.ty.as_str(), "x" | "X" | "o" | "b");
                slots.push(Slot::Raw { value, spec, radix });
            } else {
                // Positional: value 0, then the counts that name arguments.
                let mut args = vec![value];
                let format = {
                    let mut n = 0;
                    let s = spec.render(|c| match c {
                        Count::Is(v) => v.to_string(),
                        Count::Arg(_) | Count::Star => {
                            n += 1;
                            format!("{n}$")
                        }
                    });
                    format!("{{0:{s}}}")
                };
                args.extend(width);
                args.extend(precision);
                writer_format.push_str("{}");
                slots.push(Slot::Formatted { format, args });
            }
        }
        // Every explicit argument must be used, as `format!` requires.
        if used.iter().any(|u| !u) {
            return None;
        }
        let spans = (0..locals.len())
            .map(|i| match self.args.get(i) {
                Some((_, e)) => span_of(e).unwrap_or(span),
                None => span,
            })
            .collect();
        Some(Plan {
            locals,
            spans,
            slots,
            writer_format,
        })
    }

    /// The raw record push.
    fn raw(&self, plan: Plan) -> TokenStream {
        let k = &self.krate;
        let local = |i: usize| Ident::new(&format!("__ul_a{i}"), Span::call_site());
        let mut scrutinee = TokenStream::new();
        let mut pattern = TokenStream::new();
        for (i, e) in plan.locals.iter().enumerate() {
            scrutinee.extend(quote("& #0 ,", [e.clone()]));
            pattern.extend(quote("#0 ,", [ts(local(i))]));
        }
        let mut preps = TokenStream::new();
        for slot in &plan.slots {
            let prep = match slot {
                Slot::Raw { value, spec, radix } => {
                    let lit = self.literal(&format!("{{:{}}}", spec.render(render_count)));
                    let method = if *radix { "__ul_radix" } else { "__ul_arg" };
                    quote(
                        "(&&& #0 ::__private::Wrap(#1)). #2 (|__ul_v| #0 ::__private::format!(#3, #4)),",
                        [
                            k.clone().into(),
                            ts(local(*value)),
                            ts(Ident::new(method, Span::call_site())),
                            ts(lit),
                            deref("__ul_v", plan.spans[*value]),
                        ],
                    )
                }
                Slot::Formatted { format, args } => {
                    let mut list = TokenStream::from(TokenTree::Literal(self.literal(format)));
                    for &a in args {
                        list.extend(quote(",", []));
                        list.extend(deref(&format!("__ul_a{a}"), plan.spans[a]));
                    }
                    quote(
                        "#0 ::__private::Text(#0 ::__private::format!(#1)),",
                        [k.clone().into(), list],
                    )
                }
            };
            preps.extend(prep);
        }
        preps.extend(self.pair_preps());
        let body = quote(
            "match (#0) { (#1) => { #2 ::__private::emit_in(__ul_at, &__UL_CALLSITE, #3, (#4)); } }",
            [
                scrutinee,
                pattern,
                k.clone().into(),
                invisible(&self.context),
                preps,
            ],
        );
        self.call_site_block(self.literal(&plan.writer_format), body)
    }

    /// The whole message formatted here by `format!`, sent as one text.
    fn through_format(&self) -> TokenStream {
        let k = &self.krate;
        let mut args = TokenStream::from(TokenTree::Literal(self.format.clone()));
        for (name, e) in &self.args {
            args.extend(quote(",", []));
            if let Some(n) = name {
                args.extend(quote("#0 =", [ts(n.clone())]));
            }
            args.extend(invisible(e));
        }
        let mut preps = quote(
            "#0 ::__private::Text(#0 ::__private::format!(#1)),",
            [k.clone().into(), args],
        );
        preps.extend(self.pair_preps());
        let body = quote(
            "#0 ::__private::emit_in(__ul_at, &__UL_CALLSITE, #1, (#2));",
            [k.clone().into(), invisible(&self.context), preps],
        );
        self.call_site_block(self.literal("{}"), body)
    }

    /// The `; key = value` pairs, each raw or through `Display`.
    fn pair_preps(&self) -> TokenStream {
        let mut preps = TokenStream::new();
        for (_, v) in &self.pairs {
            preps.extend(quote(
                "(&&& #0 ::__private::Wrap(&#1)).__ul_prepare(),",
                [self.krate.clone().into(), invisible(v)],
            ));
        }
        preps
    }

    /// The call site's static and the level check around `body` (which
    /// logs into `__ul_at`, the attachment the check found).
    fn call_site_block(&self, writer_format: Literal, body: TokenStream) -> TokenStream {
        let mut keys = TokenStream::new();
        for (key, _) in &self.pairs {
            keys.extend(quote("#0,", [ts(self.literal(&key.to_string()))]));
        }
        quote(
            "{
                static __UL_CALLSITE: #0 ::__private::Callsite = #0 ::__private::Callsite::new(
                    #1, #2, #3, ::core::file!(), ::core::line!(), ::core::module_path!(), &[#4],
                );
                if let ::core::option::Option::Some(__ul_at) = #0 ::__private::enabled_in(#1) {
                    #[allow(unused_imports)]
                    use #0 ::__private::{ViaArg as _, ViaCopy as _, ViaDisplay as _, ViaFormat as _};
                    #5
                }
            }",
            [
                self.krate.clone().into(),
                invisible(&self.level),
                ts(writer_format),
                invisible(&self.source),
                keys,
                body,
            ],
        )
    }

    /// A string literal that points at the call's format string.
    fn literal(&self, s: &str) -> Literal {
        let mut l = Literal::string(s);
        l.set_span(self.format.span());
        l
    }
}

/// True if the writer formats a raw value under `spec` exactly as
/// `format!` does (ul-writer's `format::placeholder` grammar).
fn writer_does(spec: &Spec) -> bool {
    let small = |c: &Option<Count>| match c {
        None => true,
        Some(Count::Is(n)) => *n <= WRITER_MAX_WIDTH,
        Some(_) => false,
    };
    matches!(
        spec.ty.as_str(),
        "" | "?" | "x" | "X" | "o" | "b" | "e" | "E"
    ) && !matches!(spec.fill, Some('{' | '}'))
        && small(&spec.width)
        && small(&spec.precision)
}

/// A literal count as written; the others are not rendered this way.
fn render_count(c: &Count) -> String {
    match c {
        Count::Is(n) => n.to_string(),
        _ => unreachable!("only literal counts reach the writer"),
    }
}

/// `tokens` in an invisible group: keeps an expression's precedence
/// without parentheses (which would draw `unused_parens`).
fn invisible(tokens: &TokenStream) -> TokenStream {
    TokenTree::Group(Group::new(Delimiter::None, tokens.clone())).into()
}

/// A `$`-fragment handed over by `macro_rules!` arrives in an invisible
/// group: the token inside it.
fn unwrap_invisible(tt: TokenTree) -> TokenTree {
    match &tt {
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
            let mut inner = g.stream().into_iter();
            match (inner.next(), inner.next()) {
                (Some(t), None) => unwrap_invisible(t),
                _ => tt,
            }
        }
        _ => tt,
    }
}

/// `template` parsed, with each `#N` replaced by `slots[N]`: a small
/// quasi-quote, so the crate needs neither `quote` nor `syn`.
fn quote<const N: usize>(template: &str, slots: [TokenStream; N]) -> TokenStream {
    fn fill(ts: TokenStream, slots: &[TokenStream]) -> TokenStream {
        let mut out = TokenStream::new();
        let mut it = ts.into_iter().peekable();
        while let Some(tt) = it.next() {
            match tt {
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    let slot = match it.peek() {
                        Some(TokenTree::Literal(l)) => l.to_string().parse::<usize>().ok(),
                        _ => None,
                    };
                    match slot {
                        Some(n) => {
                            it.next();
                            out.extend(slots[n].clone());
                        }
                        None => out.extend([TokenTree::Punct(Punct::new('#', Spacing::Alone))]),
                    }
                }
                TokenTree::Group(g) => {
                    let mut ng = Group::new(g.delimiter(), fill(g.stream(), slots));
                    ng.set_span(g.span());
                    out.extend([TokenTree::Group(ng)]);
                }
                other => out.extend([other]),
            }
        }
        out
    }
    fill(template.parse().expect("a template that parses"), &slots)
}

/// `*name`, where `name` is a local of the expansion (call-site hygiene)
/// but placed at `at`, the value's place in the call: rustc's errors about
/// the value (a missing `Debug`) then point at it, as with `format!`.
fn deref(name: &str, at: Span) -> TokenStream {
    let span = Span::call_site().located_at(at);
    let mut star = Punct::new('*', Spacing::Alone);
    star.set_span(span);
    TokenStream::from_iter([
        TokenTree::Punct(star),
        TokenTree::Ident(Ident::new(name, span)),
    ])
}

/// Where an argument's tokens start (inside the invisible groups
/// `macro_rules!` wraps an expression in).
fn span_of(tokens: &TokenStream) -> Option<Span> {
    match tokens.clone().into_iter().next()? {
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => span_of(&g.stream()),
        t => Some(t.span()),
    }
}

/// One token as a stream.
fn ts(t: impl Into<TokenTree>) -> TokenStream {
    TokenStream::from(t.into())
}
