//! A clean shutdown (SIGTERM) and restart on the same dataDir gives back the
//! identical tree: data, children and every Stat field.

use std::collections::BTreeMap;

use rookery_tests::{Member, Target};
use zookeeper_client as zk;

#[derive(Debug, PartialEq, Eq)]
struct Node {
    data: Vec<u8>,
    stat: zk::Stat,
    children: Vec<String>,
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Every node reachable from `/`, with its data, Stat and sorted children.
async fn snapshot(client: &zk::Client) -> BTreeMap<String, Node> {
    let mut tree = BTreeMap::new();
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) = client
            .get_data(&path)
            .await
            .unwrap_or_else(|e| panic!("get {path}: {e}"));
        let (mut children, child_stat) = client
            .get_children(&path)
            .await
            .unwrap_or_else(|e| panic!("getChildren {path}: {e}"));
        assert_eq!(
            stat, child_stat,
            "getData and getChildren2 Stat differ for {path}"
        );
        children.sort();
        pending.extend(children.iter().map(|c| child_path(&path, c)));
        tree.insert(
            path,
            Node {
                data,
                stat,
                children,
            },
        );
    }
    tree
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers() {
    let mut member = Member::start();
    let client = zk::Client::connect(&member.connect_string()).await.unwrap();
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let read_only = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_read());

    client
        .create("/r", b"root of the test tree", &persistent)
        .await
        .unwrap();
    client.create("/r/a", b"alpha", &persistent).await.unwrap();
    client.create("/r/a/b", b"beta", &persistent).await.unwrap();
    client
        .create("/r/a/b/c", &[0u8, 1, 2, 255], &persistent)
        .await
        .unwrap();
    client.create("/r/empty", b"", &persistent).await.unwrap();
    client
        .create("/r/readonly", b"ro", &read_only)
        .await
        .unwrap();
    client.create("/r/q", b"", &persistent).await.unwrap();
    for i in 0..5 {
        client
            .create("/r/q/item-", format!("item {i}").as_bytes(), &sequential)
            .await
            .unwrap();
    }
    client
        .delete("/r/q/item-0000000001", Some(0))
        .await
        .unwrap();
    for v in 0..3 {
        client
            .set_data("/r/a", format!("alpha v{}", v + 1).as_bytes(), Some(v))
            .await
            .unwrap();
    }
    client.create("/r/gone", b"", &persistent).await.unwrap();
    client.delete("/r/gone", None).await.unwrap();
    client
        .set_data("/r", vec![b'z'; 100_000].as_slice(), None)
        .await
        .unwrap();

    let before = snapshot(&client).await;
    assert_eq!(before["/r/a"].stat.version, 3);
    assert_eq!(before["/r/a"].data, b"alpha v3");
    assert_eq!(
        before["/r/q"].children,
        [
            "item-0000000000",
            "item-0000000002",
            "item-0000000003",
            "item-0000000004"
        ]
    );
    assert!(
        before.contains_key("/zookeeper"),
        "no /zookeeper: {:?}",
        before.keys()
    );
    drop(client);

    let status = member.terminate();
    if member.target() == Target::Rookery {
        assert!(
            status.success(),
            "SIGTERM should be a clean shutdown, got {status}"
        );
    }
    member.restart();

    let client = zk::Client::connect(&member.connect_string()).await.unwrap();
    let after = snapshot(&client).await;
    for (path, node) in &before {
        match after.get(path) {
            Some(found) => assert_eq!(found, node, "{path} changed across the restart"),
            None => panic!("{path} is missing after the restart"),
        }
    }
    let extra: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(
        extra.is_empty(),
        "nodes appeared across the restart: {extra:?}"
    );

    // New writes continue after everything already written, and sequence numbers go on.
    let max_zxid = before
        .values()
        .map(|n| n.stat.mzxid.max(n.stat.pzxid))
        .max()
        .unwrap();
    let (stat, seq) = client
        .create("/r/q/item-", b"after", &sequential)
        .await
        .unwrap();
    assert!(
        stat.czxid > max_zxid,
        "zxid went back: {} <= {max_zxid}",
        stat.czxid
    );
    assert_eq!(seq.into_i64(), 5, "sequence numbers restarted");
    drop(client);
    member.terminate();
}
