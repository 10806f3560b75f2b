//! The host adapters on huge inputs: each input at two sizes, so the
//! figures show linear work (twice the input, about twice the time) where
//! a quadratic step would show four times.
//!
//!     cargo bench --bench hosts
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use regwatch::hosts::asterisk::{ami_messages, parse_log_line, AsteriskConfig};
use regwatch::hosts::freeswitch::{parse_compact, parse_gateways, parse_raw_events};
use regwatch::hosts::strip_ansi;
use std::hint::black_box;
use std::time::Duration;

/// A name and the input of `size` bytes (about) for it.
type Case = (&'static str, fn(usize) -> String);

const CASES: [Case; 7] = [
    ("pjsip many sections", |n| {
        "[s](t)\ntype=auth\nusername=u\n".repeat(n / 28)
    }),
    ("pjsip template fan-out", |n| {
        let mut s = String::from("[t0](!)\na=b\n");
        let count = n / 200;
        for i in 1..count {
            let parents: Vec<String> = (1..=64.min(i)).map(|d| format!("t{}", i - d)).collect();
            s.push_str(&format!("[t{i}](!,{})\nk{i}=v\n", parents.join(",")));
        }
        s.push_str(&format!("[obj](t{})\ntype=registration\n", count - 1));
        s
    }),
    ("sofia open tags", |n| {
        "<gateway name=\"g\"><param name=\"x\" value=\"y\"/>".repeat(n / 48)
    }),
    ("freeswitch raw headers", |n| {
        "Event-Subclass: sofia::gateway_state\nGateway: g\nState: FAILED\n".repeat(n / 60)
    }),
    ("freeswitch compact keys", |n| {
        format!("sofia::gateway_state {}", "K=v ".repeat(n / 4))
    }),
    ("ami lines", |n| {
        "Event: Registry | Username: a | Domain: b | Status: Rejected\n".repeat(n / 64)
    }),
    ("escapes", |n| "\u{1b}[".repeat(n / 2)),
];

fn run(text: &str) -> usize {
    let conf = AsteriskConfig::from_pjsip_conf(text);
    let mut n = conf.trunks().len();
    n += parse_gateways(text).len();
    n += parse_raw_events(text).len() + parse_compact(text).len();
    n += ami_messages(text).len();
    n += text.split('\n').filter_map(parse_log_line).count();
    n + strip_ansi(text).len()
}

fn huge_inputs(c: &mut Criterion) {
    let mut g = c.benchmark_group("hosts_huge_inputs");
    for (name, make) in CASES {
        for size in [256 << 10, 512 << 10] {
            let text = make(size);
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_with_input(BenchmarkId::new(name, size >> 10), &text, |b, t| {
                b.iter(|| black_box(run(black_box(t))))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(2));
    targets = huge_inputs
}
criterion_main!(benches);
