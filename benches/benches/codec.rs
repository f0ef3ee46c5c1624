//! The record codec: encoding the int/int/double message the way the
//! producer does (straight into a 56-byte slot), encoding it through the
//! owned-value helper, and decoding it the way the writer does.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ul_ring::args::{encode_record, tag, Arg, Encoder, OwnedValue};
use ul_ring::record::{decode, Level, RecordHeader, RecordKind, FLAG_TSC};

fn header(ts: u64) -> RecordHeader {
    RecordHeader {
        len: 56,
        kind: RecordKind::Log as u8,
        level: Level::Info as u8,
        flags: FLAG_TSC,
        timestamp: ts,
        callsite: 1,
        seq: 9,
        context: 0,
        nargs: 3,
        _reserved: [0; 3],
    }
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let mut slot = [0u8; 56];
    g.bench_function("int_int_double/Arg+Encoder (hot path)", |b| {
        b.iter(|| {
            let (i, j, x) = black_box((42u64, 7u32, 0.5f64));
            let h = header(black_box(123_456_789));
            let mut enc = Encoder::new(&mut slot);
            enc.put_header(&h);
            enc.put_u8(tag::U64);
            enc.put_u8(tag::U32);
            enc.put_u8(tag::F64);
            i.put(&mut enc, 0);
            j.put(&mut enc, 0);
            x.put(&mut enc, 0);
            enc.finish();
            black_box(&slot);
        })
    });
    let args = [
        OwnedValue::U64(42),
        OwnedValue::U32(7),
        OwnedValue::F64(0.5),
    ];
    let mut buf = Vec::with_capacity(64);
    g.bench_function("int_int_double/encode_record (OwnedValue, Vec)", |b| {
        b.iter(|| {
            buf.clear();
            encode_record(&mut buf, header(123_456_789), black_box(&args));
            black_box(&buf);
        })
    });
    g.finish();
}

fn decode_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let mut rec = Vec::new();
    encode_record(
        &mut rec,
        header(123_456_789),
        &[
            OwnedValue::U64(42),
            OwnedValue::U32(7),
            OwnedValue::F64(0.5),
        ],
    );
    g.bench_function("int_int_double/decode+iterate", |b| {
        b.iter(|| {
            let r = decode(black_box(&rec)).expect("valid record");
            for v in r.args.iter() {
                black_box(v);
            }
        })
    });
    let mut srec = Vec::new();
    encode_record(
        &mut srec,
        header(123_456_789),
        &[
            OwnedValue::U64(42),
            OwnedValue::U32(7),
            OwnedValue::Str(ul_benches::loggers::LONG_STR.into()),
        ],
    );
    g.bench_function("int_int_str56/decode+iterate", |b| {
        b.iter(|| {
            let r = decode(black_box(&srec)).expect("valid record");
            for v in r.args.iter() {
                black_box(v);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, encode, decode_bench);
criterion_main!(benches);
