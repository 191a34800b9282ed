//! Watches, ACL-filtered events and node lifecycles (containers, TTL, ephemerals),
//! seen through a real client (zookeeper-client-rust).

use rookery_tests::{Member, MemberOptions};
use std::time::Duration;
use zookeeper_client as zk;

/// Bounds every wait: a hang fails the test instead of stalling the run.
const GUARD: Duration = Duration::from_secs(30);

async fn connect(member: &Member) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&member.connect_string())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", member.connect_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_watch_skips_nodes_the_watcher_cannot_read() {
    let member = Member::start();
    let owner = connect(&member).await;
    owner.auth("digest", b"bob:xyz").await.unwrap();
    let watcher = connect(&member).await;
    let mut events = watcher
        .watch("/", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    // bob:xyz's digest identity (ZooKeeper's DigestAuthenticationProvider).
    let bob_only = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("digest", "bob:NhT/eZBWLXwGI1jisA3HxYffNgo="),
    )];
    let secret = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&bob_only));
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    owner.create("/secret", b"s", &secret).await.unwrap();
    owner.create("/public", b"p", &open).await.unwrap();

    // The first event the watcher gets is for /public: /secret's was dropped.
    let event = tokio::time::timeout(GUARD, events.changed())
        .await
        .expect("no event");
    assert_eq!(event.event_type, zk::EventType::NodeCreated);
    assert_eq!(event.path, "/public");

    // Recursive watches report the changed node's own path.
    owner.create("/public/child", b"", &open).await.unwrap();
    let event = tokio::time::timeout(GUARD, events.changed())
        .await
        .expect("no event");
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeCreated, "/public/child")
    );
    owner.set_data("/public/child", b"x", None).await.unwrap();
    let event = tokio::time::timeout(GUARD, events.changed())
        .await
        .expect("no event");
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeDataChanged, "/public/child")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_containers_and_expired_ttl_nodes_are_removed() {
    let member = Member::start_with(MemberOptions {
        extra: vec![
            ("znode.container.checkIntervalMs".into(), "200".into()),
            ("extendedTypesEnabled".into(), "true".into()),
        ],
        ..MemberOptions::default()
    });
    let client = connect(&member).await;
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    client.create("/used", b"", &container).await.unwrap();
    client.create("/never-used", b"", &container).await.unwrap();
    client.create("/used/child", b"", &open).await.unwrap();
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_millis(300));
    client.create("/short-lived", b"", &ttl).await.unwrap();
    let (_, stat) = client.get_data("/short-lived").await.unwrap();
    assert_eq!(
        stat.ephemeral_owner, 0,
        "the TTL marker is hidden from clients"
    );
    client.delete("/used/child", None).await.unwrap();

    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let used = client.check_stat("/used").await.unwrap();
        let ttl_node = client.check_stat("/short-lived").await.unwrap();
        if used.is_none() && ttl_node.is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there: /used {used:?}, /short-lived {ttl_node:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A container that never had a child stays (ZooKeeper's default).
    assert!(client.check_stat("/never-used").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_end_with_their_session() {
    let member = Member::start();
    let observer = connect(&member).await;
    let owner = connect(&member).await;
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    owner.create("/mine", b"", &ephemeral).await.unwrap();
    let (_, stat) = observer.get_data("/mine").await.unwrap();
    assert_eq!(stat.ephemeral_owner, owner.session_id().0);
    let (_, _, gone) = observer.get_and_watch_data("/mine").await.unwrap();
    drop(owner);
    let event = tokio::time::timeout(GUARD, gone.changed())
        .await
        .expect("no event");
    assert_eq!(event.event_type, zk::EventType::NodeDeleted);
    assert!(observer.check_stat("/mine").await.unwrap().is_none());
}

/// A session whose client goes silent expires: the leader closes it through a
/// Txn, its ephemerals go and it leaves the session list (standalone and on a
/// 3-member ensemble, where the client sat on a follower).
///
/// Regression (found by the dashboards' live workload): expiry marked the session
/// closing before proposing its close, and the close was then refused as already
/// expired, so the session and its ephemerals lived on.
#[test]
fn a_silent_session_expires_and_its_ephemerals_go() {
    use rookery_tests::ensemble::Ensemble;
    use rookery_tests::history::client::SessionClient;

    fn expires_on(members: Vec<std::net::SocketAddr>, start: usize) {
        let mut silent =
            SessionClient::open(members.clone(), start, true, 4000).expect("open a session");
        let made = silent
            .create("/silent-ephemeral", b"", true)
            .unwrap_or_else(|_| panic!("create failed"));
        assert_eq!(made.err, 0);
        // Drop the connection without closing: only expiry can end the session.
        drop(silent);
        let mut watcher = SessionClient::open(members, 0, false, 30_000).expect("open");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = watcher
                .get_data("/silent-ephemeral", false)
                .unwrap_or_else(|_| panic!("read failed"));
            if r.err == -101 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the silent session's ephemeral is still there after 20 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let member = Member::start();
    expires_on(vec![member.addr()], 0);
    let ensemble = Ensemble::start(3);
    let leader = ensemble.leader().expect("a leader");
    let follower = (leader + 1) % 3;
    expires_on(
        ensemble.members.iter().map(|m| m.addr()).collect(),
        follower,
    );
}
