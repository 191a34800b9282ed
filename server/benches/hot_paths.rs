//! Micro-benchmarks of the paths every request takes (`cargo bench -p
//! rookery-server`): jute decode and encode, prep, tree apply, watch trigger,
//! and the log record's encoding. They guide the work; the comparison with
//! Apache ZooKeeper is tests/perf/compare.sh's.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rookery_server::core::reply;
use rookery_server::prep::{Prep, PrepContext};
use rookery_server::proto::{Acl, Id, Reader, Request, Writer};
use rookery_server::tree::watch::{Table, WatchRegistry};
use rookery_server::tree::{Change, ChangeKind, DataTree};
use rookery_server::txn::{CreateTxn, Logged, Txn, TxnBody};
use std::hint::black_box;

const VALUE: [u8; 100] = [b'v'; 100];

/// A tree holding `n` nodes of 100 bytes under /bench, applied as a leader would.
fn tree_with(n: usize) -> DataTree {
    let mut tree = DataTree::new();
    let mut zxid = 1;
    let mut apply = |tree: &mut DataTree, body: TxnBody| {
        tree.apply(&Txn {
            zxid,
            time_ms: 0,
            session_id: 1,
            body,
        });
        zxid += 1;
    };
    apply(&mut tree, create_body("/bench"));
    for i in 0..n {
        apply(&mut tree, create_body(&format!("/bench/k{i}")));
    }
    tree
}

fn create_body(path: &str) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.to_string(),
        data: Some(VALUE.to_vec()),
        acl: Acl::world_all(),
        owner: 0,
    })
}

fn jute(c: &mut Criterion) {
    let mut g = c.benchmark_group("jute");
    g.throughput(Throughput::Elements(1));
    let mut w = Writer::new();
    w.write_string("/bench/k42");
    w.write_bool(false);
    let get_data = w.into_inner();
    g.bench_function("decode getData", |b| {
        b.iter(|| Request::decode(4, &mut Reader::new(black_box(&get_data))))
    });
    let mut w = Writer::new();
    w.write_string("/bench/k42");
    w.write_buffer(Some(&VALUE));
    w.write_vec(&Acl::world_all(), |w, a| a.write(w));
    w.write_i32(0);
    let create = w.into_inner();
    g.bench_function("decode create", |b| {
        b.iter(|| Request::decode(1, &mut Reader::new(black_box(&create))))
    });
    let tree = tree_with(1000);
    let node = tree.get("/bench/k42").expect("made above");
    g.bench_function("encode getData reply", |b| {
        b.iter(|| {
            reply::ok_with(7, 42, |w| {
                w.write_buffer(node.data.as_deref());
                node.stat().write(w);
            })
        })
    });
    g.finish();
}

fn prep_and_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("write path");
    g.throughput(Throughput::Elements(1));
    let tree = tree_with(10_000);
    let ids = [Id::new("world", "anyone")];
    let set = Request::SetData {
        path: "/bench/k42".to_string(),
        data: Some(VALUE.to_vec()),
        version: -1,
    };
    g.bench_function("prep setData", |b| {
        let mut prep = Prep::default();
        let mut zxid = 1_000_000;
        b.iter(|| {
            zxid += 1;
            let ctx = PrepContext {
                session_id: 1,
                ids: &ids,
                zxid,
                extended_types: false,
            };
            let body = prep.prep_write(&tree, &ctx, black_box(&set));
            prep.applied(zxid);
            body
        })
    });
    g.bench_function("apply setData (10k nodes)", |b| {
        let mut tree = tree.clone();
        let mut zxid = 1_000_000;
        b.iter(|| {
            zxid += 1;
            tree.apply(&Txn {
                zxid,
                time_ms: 0,
                session_id: 1,
                body: TxnBody::SetData {
                    path: "/bench/k42".to_string(),
                    data: Some(VALUE.to_vec()),
                    version: 1,
                },
            })
        })
    });
    g.bench_function("apply create (10k nodes)", |b| {
        b.iter_batched(
            || (tree.clone(), 0),
            |(mut tree, _)| {
                for i in 0..100 {
                    tree.apply(&Txn {
                        zxid: 1_000_000 + i,
                        time_ms: 0,
                        session_id: 1,
                        body: create_body(&format!("/bench/new{i}")),
                    });
                }
                tree
            },
            BatchSize::LargeInput,
        )
    });
    let logged = Logged {
        origin_member: 1,
        origin_request: 7,
        txn: Txn {
            zxid: 42,
            time_ms: 0,
            session_id: 1,
            body: create_body("/bench/k42"),
        },
    };
    let bytes = logged.encode();
    g.bench_function("encode log record", |b| {
        b.iter(|| black_box(&logged).encode())
    });
    g.bench_function("decode log record", |b| {
        b.iter(|| Logged::decode(black_box(&bytes)))
    });
    g.finish();
}

fn watches(c: &mut Criterion) {
    let mut g = c.benchmark_group("watch");
    for watchers in [1u64, 10_000] {
        g.throughput(Throughput::Elements(watchers));
        let change = Change {
            kind: ChangeKind::DataChanged,
            path: "/bench/w".to_string(),
            acl: std::sync::Arc::new(Acl::world_all()),
            parent_acl: None,
        };
        g.bench_function(format!("trigger {watchers} data watches"), |b| {
            b.iter_batched(
                || {
                    let mut reg = WatchRegistry::default();
                    for conn in 0..watchers {
                        reg.add_standard(Table::Data, "/bench/w", conn);
                    }
                    reg
                },
                |mut reg| {
                    let mut events = Vec::new();
                    reg.trigger(&change, &mut events);
                    events
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, jute, prep_and_apply, watches);
criterion_main!(benches);
