//! Draws the log calls of `cases.rs` (see the crate docs): random format
//! strings over every placeholder form and spec, with values of every
//! type the macros take raw and some they format at the call site.

use std::fmt::Write as _;

/// How many calls.
const CASES: usize = 300;

/// Seed when `UL_FIDELITY_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5EED_F1DE_0001;

use ul_test_support::Rng;

/// A value type, and the traits `format!` takes for it.
struct Type {
    name: &'static str,
    traits: &'static [&'static str],
    /// Takes a precision the writer applies (floats, text).
    precision: bool,
}

const INT: &[&str] = &["", "?", "x", "X", "o", "b", "e", "E", "x?", "X?"];
const FLOAT: &[&str] = &["", "?", "e", "E"];
const TEXT: &[&str] = &["", "?"];

const TYPES: &[Type] = &[
    Type {
        name: "u8",
        traits: INT,
        precision: false,
    },
    Type {
        name: "u16",
        traits: INT,
        precision: false,
    },
    Type {
        name: "u32",
        traits: INT,
        precision: false,
    },
    Type {
        name: "u64",
        traits: INT,
        precision: false,
    },
    Type {
        name: "u128",
        traits: INT,
        precision: false,
    },
    Type {
        name: "usize",
        traits: INT,
        precision: false,
    },
    Type {
        name: "i8",
        traits: INT,
        precision: false,
    },
    Type {
        name: "i16",
        traits: INT,
        precision: false,
    },
    Type {
        name: "i32",
        traits: INT,
        precision: false,
    },
    Type {
        name: "i64",
        traits: INT,
        precision: false,
    },
    Type {
        name: "i128",
        traits: INT,
        precision: false,
    },
    Type {
        name: "isize",
        traits: INT,
        precision: false,
    },
    Type {
        name: "f32",
        traits: FLOAT,
        precision: true,
    },
    Type {
        name: "f64",
        traits: FLOAT,
        precision: true,
    },
    Type {
        name: "bool",
        traits: TEXT,
        precision: true,
    },
    Type {
        name: "char",
        traits: TEXT,
        precision: true,
    },
    Type {
        name: "String",
        traits: TEXT,
        precision: true,
    },
    Type {
        name: "&str",
        traits: TEXT,
        precision: true,
    },
    Type {
        name: "Option<i32>",
        traits: &["?", "x?"],
        precision: false,
    },
    Type {
        name: "Vec<u8>",
        traits: &["?", "X?"],
        precision: false,
    },
    Type {
        name: "Point",
        traits: TEXT,
        precision: true,
    },
    Type {
        name: "Shout",
        traits: TEXT,
        precision: true,
    },
];

const FILLS: &[char] = &[' ', '*', '0', 'é', '-', '日', '_'];
const LITERALS: &[&str] = &[
    "", " ", "a", "{{", "}}", " é ", "=", "\\", "\"", "日本", "x y",
];

/// One placeholder's spec for a value of type `t`. `counts` collects the
/// width and precision locals it names (`wN$`, `pN$`); `star` says whether
/// `.*` is allowed (implicit placeholders only).
fn spec(r: &mut Rng, t: &Type, counts: &mut Vec<String>, star: bool) -> (String, bool) {
    let mut s = String::new();
    if r.chance(30) {
        if r.chance(50) {
            s.push(*r.pick(FILLS));
        }
        s.push(*r.pick(&['<', '^', '>']));
    }
    if r.chance(12) {
        s.push('+');
    } else if r.chance(4) {
        s.push('-');
    }
    if r.chance(20) {
        s.push('#');
    }
    if r.chance(15) {
        s.push('0');
    }
    if r.chance(35) {
        write!(s, "{}", r.below(25)).unwrap();
    } else if r.chance(10) {
        let w = format!("w{}", counts.len());
        write!(s, "{w}$").unwrap();
        counts.push(w);
    }
    let mut used_star = false;
    if t.precision || r.chance(10) {
        if r.chance(25) {
            write!(s, ".{}", r.below(9)).unwrap();
        } else if r.chance(6) {
            let p = format!("p{}", counts.len());
            write!(s, ".{p}$").unwrap();
            counts.push(p);
        } else if star && r.chance(5) {
            s.push_str(".*");
            used_star = true;
        }
    }
    s.push_str(r.pick::<&str>(t.traits));
    (s, used_star)
}

fn main() {
    println!("cargo:rerun-if-env-changed=UL_FIDELITY_SEED");
    println!("cargo:rerun-if-changed=build.rs");
    let seed = std::env::var("UL_FIDELITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut r = Rng::from_state(seed | 1);
    let mut code = String::new();
    writeln!(
        code,
        "/// The seed the calls were drawn with.\nconst SEED: u64 = {seed};"
    )
    .unwrap();
    writeln!(
        code,
        "/// How many calls [`run`] makes per round.\npub const CASES: usize = {CASES};"
    )
    .unwrap();
    code.push_str(
        "#[allow(clippy::all, clippy::pedantic, unused_variables, unused_mut)]\n\
         fn log_all(rng: &mut Rng, round: u64, out: &mut Vec<Expected>) {\n",
    );
    for case in 0..CASES {
        let mut decls = String::new();
        let mut values: Vec<&Type> = Vec::new();
        // Explicit positional arguments, in order: (local, type).
        let mut positional: Vec<(String, &Type)> = Vec::new();
        let mut named: Vec<(String, String)> = Vec::new();
        let mut counts = Vec::new();
        let mut fmt = format!("c{case}.{{round}}|");
        for _ in 0..1 + r.below(4) {
            fmt.push_str(r.pick::<&str>(LITERALS));
            let k = if values.is_empty() || r.chance(70) {
                values.push(r.pick(TYPES));
                values.len() - 1
            } else {
                r.below(values.len() as u64) as usize
            };
            let t = values[k];
            let local = format!("v{k}");
            match r.below(100) {
                // `{}` / `{:spec}`: the next positional argument.
                0..=39 => {
                    let (s, star) = spec(&mut r, t, &mut counts, true);
                    if star {
                        let p = format!("p{}", counts.len());
                        counts.push(p.clone());
                        positional.push((p, &TYPES[5]));
                    }
                    positional.push((local, t));
                    fmt.push_str(&if s.is_empty() {
                        "{}".to_owned()
                    } else {
                        format!("{{:{s}}}")
                    });
                }
                // `{i:spec}` of an existing positional argument.
                40..=54 if !positional.is_empty() => {
                    let i = r.below(positional.len() as u64) as usize;
                    let t = positional[i].1;
                    let (s, _) = spec(&mut r, t, &mut counts, false);
                    fmt.push_str(&format!("{{{i}:{s}}}"));
                }
                // `{name:spec}` of a named argument.
                55..=69 => {
                    let (s, _) = spec(&mut r, t, &mut counts, false);
                    let name = format!("n{k}");
                    if !named.iter().any(|(n, _)| *n == name) {
                        named.push((name.clone(), local));
                    }
                    fmt.push_str(&format!("{{{name}:{s}}}"));
                }
                // `{local:spec}`: captured from the scope.
                _ => {
                    let (s, _) = spec(&mut r, t, &mut counts, false);
                    fmt.push_str(&format!("{{{local}:{s}}}"));
                }
            }
        }
        fmt.push_str(r.pick::<&str>(LITERALS));
        for (k, t) in values.iter().enumerate() {
            if t.name == "&str" {
                writeln!(
                    decls,
                    "let s{k}: String = rng.gen(); let v{k}: &str = &s{k};"
                )
                .unwrap();
            } else {
                writeln!(decls, "let v{k}: {} = rng.gen();", t.name).unwrap();
            }
        }
        for c in &counts {
            writeln!(decls, "let {c}: usize = rng.below(12) as usize;").unwrap();
        }
        let mut args = String::new();
        for (l, _) in &positional {
            write!(args, ", {l}").unwrap();
        }
        for (n, l) in &named {
            write!(args, ", {n} = {l}").unwrap();
        }
        writeln!(
            code,
            "{{\n{decls}ul::info!({fmt:?}{args});\n\
             out.push(Expected {{ case: {case}, round, message: format!({fmt:?}{args}) }});\n}}"
        )
        .unwrap();
    }
    code.push_str("}\n");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("cases.rs");
    std::fs::write(out, code).unwrap();
}
