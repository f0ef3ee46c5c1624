//! The writer's per-record cost, for instruction counting under callgrind:
//! this process logs batches of the int/int/double message (or, with `str`
//! as the third argument, the latency harness's int/int/56-byte-string
//! one) with `ul::info!` into its own region and drains each batch with
//! one `Engine::pass`.
//!
//! ```text
//! cargo build --release -p ul-writer --example drain_profile
//! valgrind --tool=callgrind --toggle-collect='*Engine*pass*' \
//!     target/release/examples/drain_profile text 200
//! ```
//!
//! Arguments: the format (`text`, `json`, `both`), the number of passes
//! of 1,000 records, and the message (`int`, the default, or `str`). With `--toggle-collect` only the passes are counted,
//! so the instruction total divided by the record count is the writer's
//! cost per record (file writes into a temp dir included).

use std::time::Duration;

use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

const PER_PASS: u64 = 1_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let format = match args.next().as_deref() {
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some("both") => Format::Both,
        Some(other) => {
            eprintln!("drain_profile: unknown format {other:?} (text, json or both)");
            std::process::exit(2);
        }
    };
    let passes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let strings = match args.next().as_deref() {
        None | Some("int") => false,
        Some("str") => true,
        Some(other) => {
            eprintln!("drain_profile: unknown message {other:?} (int or str)");
            std::process::exit(2);
        }
    };
    // The latency harness's string argument: 56 bytes of plain ASCII.
    let s = "a 56-byte string argument, as in Quill's large-string ca";
    let shm = format!("/dev/shm/ul-drain-profile-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("ul-drain-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the output dir");
    ul::init(&shm).expect("ul::init");
    let region = Region::open(&shm, &RegionOptions::default()).expect("open the region");
    let outputs = Outputs::new(&dir, "server").expect("open the outputs");
    let mut engine = Engine::new(region, outputs, format, Duration::from_secs(30)).expect("engine");
    let (mut i, j, mut x) = (0u64, 7u32, 0.5f64);
    let mut written = 0;
    for _ in 0..passes {
        for _ in 0..PER_PASS {
            if strings {
                ul::info!("Logging int: {}, int: {}, string: {}", i, j, s);
            } else {
                ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
            }
            i += 1;
            x += 0.25;
        }
        written += engine.pass().expect("pass");
    }
    println!("{written} records in {passes} passes");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&shm);
}
