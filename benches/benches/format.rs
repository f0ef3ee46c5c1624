//! The writer's per-record formatting: placeholders (integers, the f64),
//! the RFC 3339 timestamp, and the text and JSON lines.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ul_ring::args::Value;
use ul_ring::record::Level;
use ul_writer::internals::format::{
    format_message, write_json, write_text, LineRecord, TimestampFormatter,
};

const FMT: &str = "Logging int: {}, int: {}, double: {}";
const TS: u64 = 1_735_689_600_123_456_789;

fn args(i: u64) -> [Value<'static>; 3] {
    [
        Value::U64(i),
        Value::U64(7),
        Value::F64(i as f64 * 0.25 + 0.5),
    ]
}

fn line<'a>(msg: &'a [u8], ts: u64) -> LineRecord<'a> {
    LineRecord {
        timestamp_ns: ts,
        level: Level::Info,
        source: "ul_benches::latency",
        message: msg,
        context: &[],
        location: None,
        pid: 4242,
        tid: 4243,
        seq: 17,
        truncated: false,
    }
}

fn placeholders(c: &mut Criterion) {
    let mut g = c.benchmark_group("format_message");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);
    let mut i = 0u64;
    g.bench_function("int_int_double", |b| {
        b.iter(|| {
            out.clear();
            i += 1;
            format_message(&mut out, black_box(FMT), args(i).into_iter());
            black_box(&out);
        })
    });
    g.bench_function("f64 only", |b| {
        b.iter(|| {
            out.clear();
            i += 1;
            format_message(
                &mut out,
                black_box("{}"),
                [Value::F64(i as f64 * 0.25 + 0.5)].into_iter(),
            );
            black_box(&out);
        })
    });
    g.bench_function("two ints only", |b| {
        b.iter(|| {
            out.clear();
            i += 1;
            format_message(
                &mut out,
                black_box("Logging int: {}, int: {}"),
                [Value::U64(i), Value::U64(7)].into_iter(),
            );
            black_box(&out);
        })
    });
    g.bench_function("static (no placeholder)", |b| {
        b.iter(|| {
            out.clear();
            format_message(
                &mut out,
                black_box("Static message without arguments"),
                [].into_iter(),
            );
            black_box(&out);
        })
    });
    g.finish();
}

fn timestamp(c: &mut Criterion) {
    let mut g = c.benchmark_group("timestamp");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(64);
    let mut ts = TimestampFormatter::new();
    let mut t = TS;
    g.bench_function("same second", |b| {
        b.iter(|| {
            out.clear();
            t += 1;
            ts.write(&mut out, black_box(t));
            black_box(&out);
        })
    });
    g.bench_function("new second every call", |b| {
        b.iter(|| {
            out.clear();
            t += 1_000_000_001;
            ts.write(&mut out, black_box(t));
            black_box(&out);
        })
    });
    g.finish();
}

fn lines(c: &mut Criterion) {
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Elements(1));
    let msg = b"Logging int: 123456, int: 7, double: 30864.5".to_vec();
    let mut out = Vec::with_capacity(1 << 16);
    let mut ts = TimestampFormatter::new();
    let mut t = TS;
    g.bench_function("write_text", |b| {
        b.iter(|| {
            if out.len() > 60_000 {
                out.clear();
            }
            t += 37;
            write_text(&mut out, &mut ts, &line(black_box(&msg), t));
        })
    });
    g.bench_function("write_json", |b| {
        b.iter(|| {
            if out.len() > 60_000 {
                out.clear();
            }
            t += 37;
            write_json(&mut out, &mut ts, &line(black_box(&msg), t));
        })
    });
    let mut m = Vec::with_capacity(256);
    let mut i = 0u64;
    g.bench_function("record: format_message + write_text + write_json", |b| {
        b.iter(|| {
            if out.len() > 60_000 {
                out.clear();
            }
            m.clear();
            i += 1;
            t += 37;
            format_message(&mut m, black_box(FMT), args(i).into_iter());
            let l = line(&m, t);
            write_text(&mut out, &mut ts, &l);
            write_json(&mut out, &mut ts, &l);
        })
    });
    g.finish();
}

criterion_group!(benches, placeholders, timestamp, lines);
criterion_main!(benches);
