//! How many bytes of resident memory the in-memory tree takes per znode, for
//! the compact-tree work (issue 7's memory target). Builds a tree shaped like
//! `rookery bench --workload populate` (1,000 parents, 100-byte values) with
//! the same allocator as the server and prints the growth of VmRSS.
//!
//! `cargo run --release --example tree_memory -- [ZNODES] [VALUE_BYTES]`

use rookery_server::proto::Acl;
use rookery_server::tree::{Node, TreeLoader};
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn resident_kb() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))?;
    let kb = line.split_whitespace().nth(1).unwrap_or_default();
    Ok(kb.parse()?)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let znodes: usize = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let value_bytes: usize = args.next().map_or(Ok(100), |s| s.parse())?;
    let parents = 1_000.min(znodes.max(1));
    let acl = Arc::new(Acl::world_all());
    let before = resident_kb()?;
    let mut loader = TreeLoader::with_capacity(znodes + parents + 1);
    let node = |data: Vec<u8>, zxid: i64| Node::new(Some(data), acl.clone(), zxid, 0, 0);
    loader.add("/rookery-populate".into(), node(Vec::new(), 1));
    for p in 0..parents {
        loader.add(format!("/rookery-populate/p{p}"), node(Vec::new(), 1));
    }
    for i in 0..znodes {
        let path = format!("/rookery-populate/p{}/n{i}", i % parents);
        loader.add(path, node(vec![7; value_bytes], i as i64 + 2));
    }
    let tree = loader.finish(Vec::new(), znodes as i64 + 1);
    let after = resident_kb()?;
    let per_node = (after.saturating_sub(before) * 1024) as f64 / znodes.max(1) as f64;
    println!(
        "{} znodes with {value_bytes}-byte values: resident {before} kB -> {after} kB, \
         {per_node:.0} bytes per znode (a Node is {} bytes)",
        tree.node_count(),
        std::mem::size_of::<Node>()
    );
    Ok(())
}
