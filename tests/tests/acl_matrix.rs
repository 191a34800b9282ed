//! ACL enforcement, scheme by scheme and operation by operation (issue 9, "ACL
//! hardening"), against a real member with a super user configured.
//!
//! - The matrix: each ACL scheme (world, auth, digest, ip, super) × each client
//!   operation × an ACL that grants the scheme's identity exactly what the
//!   operation needs, or everything but that; the exact result code, and that a
//!   refused write (multi included) left the node as it was.
//! - getACL hides digest hashes from callers without ADMIN (CVE-2019-0201,
//!   ZOOKEEPER-1392); getEphemerals and getAllChildrenNumber; which ACLs create
//!   refuses.
//! - Watch events are delivered only to watchers that may READ the node, judged
//!   by the ACL the node had when it changed (CVE-2024-23944, ZOOKEEPER-4799).
//!
//! Every expectation was measured against Apache ZooKeeper 3.8
//! (`ROOKERY_TEST_TARGET=zk`: Debian's 3.8.0 with the CVE-2024-23944 fix
//! backported). Where 3.8 releases differ — exists() needs READ since 3.8.4
//! (ZOOKEEPER-2590) — the expectation follows the version `srvr` reports.
//! x509 and SASL identities are covered by tls.rs and kazoo's test_sasl.

use rookery_tests::ensemble::Ensemble;
use rookery_tests::Member;
use std::time::Duration;
use zk::Permission as Perm;
use zookeeper_client as zk;

/// `superDigest` for super:secret, and the digest identities of the two users:
/// `user:base64(sha1("user:password"))` (ZooKeeper's DigestAuthenticationProvider).
const SUPER_DIGEST: &str = "super:lK75jTNcA+U9vtVEw5vB51mj/w4=";
const ALICE_ID: &str = "alice:SQICbGEP3vUd4FffsXSLZ8/1XtI=";
const BOB_ID: &str = "bob:EXcpcQQk6JBIDFnxSqkpDLIhkxw=";

/// Result codes as the client sees them on the wire.
const OK: i32 = 0;
const NO_NODE: i32 = -101;
const NO_AUTH: i32 = -102;
const BAD_VERSION: i32 = -103;
const INVALID_ACL: i32 = -114;

/// Bounds every wait for an event that must come.
const GUARD: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// No addAuth: only the ip identity of its connection (127.0.0.1).
    Anonymous,
    /// addAuth digest alice:alice-pw.
    Alice,
    /// addAuth digest bob:bob-pw.
    Bob,
    /// addAuth digest super:secret, the member's superDigest.
    Super,
}

impl Caller {
    fn credentials(self) -> Option<&'static [u8]> {
        match self {
            Caller::Anonymous => None,
            Caller::Alice => Some(b"alice:alice-pw"),
            Caller::Bob => Some(b"bob:bob-pw"),
            Caller::Super => Some(b"super:secret"),
        }
    }
}

fn start_member() -> Member {
    Member::start_with_extra(&[("DigestAuthenticationProvider.superDigest", SUPER_DIGEST)])
}

async fn session(connect_string: &str, caller: Caller) -> zk::Client {
    let mut connector = zk::Client::connector().with_session_timeout(Duration::from_secs(20));
    if let Some(credentials) = caller.credentials() {
        connector = connector.with_auth("digest", credentials);
    }
    connector
        .connect(connect_string)
        .await
        .unwrap_or_else(|e| panic!("{caller:?} connects to {connect_string}: {e}"))
}

/// One session per caller.
struct Sessions {
    anonymous: zk::Client,
    alice: zk::Client,
    bob: zk::Client,
    superuser: zk::Client,
}

impl Sessions {
    async fn open(member: &Member) -> Sessions {
        Sessions::open_on(&member.connect_string()).await
    }

    async fn open_on(connect_string: &str) -> Sessions {
        Sessions {
            anonymous: session(connect_string, Caller::Anonymous).await,
            alice: session(connect_string, Caller::Alice).await,
            bob: session(connect_string, Caller::Bob).await,
            superuser: session(connect_string, Caller::Super).await,
        }
    }

    fn of(&self, caller: Caller) -> &zk::Client {
        match caller {
            Caller::Anonymous => &self.anonymous,
            Caller::Alice => &self.alice,
            Caller::Bob => &self.bob,
            Caller::Super => &self.superuser,
        }
    }
}

fn acl(perms: Perm, scheme: &str, id: &str) -> zk::Acl {
    zk::Acl::new(perms, zk::AuthId::new(scheme, id))
}

fn persistent(acls: &[zk::Acl]) -> zk::CreateOptions<'_> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::new(acls))
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Every permission not in `perms`.
fn all_but(perms: Perm) -> Perm {
    [
        Perm::READ,
        Perm::WRITE,
        Perm::CREATE,
        Perm::DELETE,
        Perm::ADMIN,
    ]
    .into_iter()
    .filter(|p| !perms.has(*p))
    .fold(Perm::NONE, |acc, p| acc | p)
}

/// The code of a server error, as it travelled on the wire.
fn code_of(e: &zk::Error) -> i32 {
    match e {
        zk::Error::NoAuth => NO_AUTH,
        zk::Error::InvalidAcl => INVALID_ACL,
        zk::Error::NoNode => NO_NODE,
        zk::Error::BadVersion => BAD_VERSION,
        zk::Error::NodeExists => -110,
        zk::Error::NotEmpty => -111,
        zk::Error::RuntimeInconsistent => -2,
        zk::Error::Unimplemented => -6,
        zk::Error::UnexpectedErrorCode(code) => *code,
        other => panic!("not a server result: {other:?}"),
    }
}

fn code<T>(r: Result<T, zk::Error>) -> i32 {
    r.map_or_else(|e| code_of(&e), |_| OK)
}

/// `(major, minor, patch)` of the `Zookeeper version:` line of `srvr`.
fn server_version(member: &Member) -> (u32, u32, u32) {
    let srvr = member.four_letter("srvr");
    let version = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Zookeeper version: "))
        .unwrap_or_else(|| panic!("no version in srvr: {srvr}"));
    let numbers: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|n| n.parse().unwrap_or_else(|_| panic!("version {version:?}")))
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

/// How the ACL entry under test relates to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    /// The entry's id matches one of the caller's identities.
    Names,
    /// It does not.
    Misses,
    /// The caller is the super user, who passes every check.
    SuperUser,
}

/// The scheme table: an ACL entry's scheme and id (its permissions vary per
/// operation), who calls, and how the id relates to the caller. Nodes under
/// test are made by alice, so `auth` stands for her digest identity.
const SCHEME_CASES: &[(&str, &str, Caller, Relation)] = &[
    ("world", "anyone", Caller::Anonymous, Relation::Names),
    ("auth", "", Caller::Alice, Relation::Names),
    ("auth", "", Caller::Bob, Relation::Misses),
    ("auth", "", Caller::Anonymous, Relation::Misses),
    ("digest", BOB_ID, Caller::Bob, Relation::Names),
    ("digest", BOB_ID, Caller::Alice, Relation::Misses),
    ("ip", "127.0.0.1", Caller::Anonymous, Relation::Names),
    ("ip", "127.0.0.0/8", Caller::Alice, Relation::Names),
    ("ip", "10.0.0.0/8", Caller::Anonymous, Relation::Misses),
    ("digest", BOB_ID, Caller::Super, Relation::SuperUser),
];

/// The operations of the matrix. Each works on the node under test N (made with
/// the ACL under test, one child `N/child`, data "under test"); create and
/// delete work on a child of N, so N's ACL is their parent's. A multi first
/// creates a marker node elsewhere, then does its op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Delete,
    SetData,
    GetData,
    Exists,
    GetChildren,
    GetChildren2,
    GetAcl,
    SetAcl,
    GetAllChildrenNumber,
    GetEphemerals,
    Sync,
    AddWatch,
    MultiCreate,
    MultiDelete,
    MultiSetData,
    MultiCheckVersion,
    MultiReadGetData,
    MultiReadGetChildren,
}

impl Op {
    const ALL: [Op; 19] = [
        Op::Create,
        Op::Delete,
        Op::SetData,
        Op::GetData,
        Op::Exists,
        Op::GetChildren,
        Op::GetChildren2,
        Op::GetAcl,
        Op::SetAcl,
        Op::GetAllChildrenNumber,
        Op::GetEphemerals,
        Op::Sync,
        Op::AddWatch,
        Op::MultiCreate,
        Op::MultiDelete,
        Op::MultiSetData,
        Op::MultiCheckVersion,
        Op::MultiReadGetData,
        Op::MultiReadGetChildren,
    ];

    /// What the operation needs of N, as ZooKeeper 3.8 checks it. Several bits
    /// mean any one of them; NONE means the ACL is not consulted.
    fn needs(self, exists_checks_read: bool) -> Perm {
        match self {
            Op::Create | Op::MultiCreate => Perm::CREATE,
            Op::Delete | Op::MultiDelete => Perm::DELETE,
            Op::SetData | Op::MultiSetData => Perm::WRITE,
            Op::GetData | Op::GetChildren | Op::GetChildren2 => Perm::READ,
            Op::GetAllChildrenNumber | Op::MultiCheckVersion => Perm::READ,
            Op::MultiReadGetData | Op::MultiReadGetChildren => Perm::READ,
            Op::Exists if exists_checks_read => Perm::READ,
            Op::Exists => Perm::NONE,
            Op::GetAcl => Perm::READ | Perm::ADMIN,
            Op::SetAcl => Perm::ADMIN,
            Op::GetEphemerals | Op::Sync | Op::AddWatch => Perm::NONE,
        }
    }

    fn is_multi_write(self) -> bool {
        matches!(
            self,
            Op::MultiCreate | Op::MultiDelete | Op::MultiSetData | Op::MultiCheckVersion
        )
    }
}

/// What a caller gets: success, or NoAuth when the ACL is consulted and grants
/// the caller none of what the operation needs (ZooKeeperServer.checkACL).
fn expected(relation: Relation, needs: Perm, granted: Perm) -> i32 {
    let grants_needed = (granted & needs) != Perm::NONE;
    match relation {
        _ if needs == Perm::NONE => OK,
        Relation::SuperUser => OK,
        Relation::Names if grants_needed => OK,
        Relation::Names | Relation::Misses => NO_AUTH,
    }
}

const DATA: &[u8] = b"under test";

/// Everything an operation on N could change, read by the super user.
#[derive(Debug, PartialEq)]
struct NodeState {
    data: Vec<u8>,
    stat: zk::Stat,
    children: Vec<String>,
    acl: Vec<zk::Acl>,
    marker_exists: bool,
}

async fn node_state(superuser: &zk::Client, node: &str, marker: &str) -> NodeState {
    let (data, stat) = superuser.get_data(node).await.expect("super reads N");
    let mut children = superuser.list_children(node).await.expect("super lists N");
    children.sort();
    let (acl, _) = superuser.get_acl(node).await.expect("super reads N's ACL");
    let marker_exists = superuser
        .check_stat(marker)
        .await
        .expect("exists marker")
        .is_some();
    NodeState {
        data,
        stat,
        children,
        acl,
        marker_exists,
    }
}

/// A multi of [create `marker`, then whatever `add` adds]: OK, or the code of
/// the op that failed, which must be the second.
async fn multi(
    client: &zk::Client,
    marker: &str,
    add: impl FnOnce(&mut zk::MultiWriter<'_>) -> Result<(), zk::Error>,
) -> i32 {
    let mut writer = client.new_multi_writer();
    writer
        .add_create(marker, b"", &open())
        .expect("add create marker");
    add(&mut writer).expect("add op");
    match writer.commit().await {
        Ok(results) => {
            assert_eq!(results.len(), 2, "{results:?}");
            OK
        }
        Err(zk::MultiWriteError::OperationFailed { index, source }) => {
            assert_eq!(index, 1, "the marker's create failed: {source}");
            code_of(&source)
        }
        Err(zk::MultiWriteError::RequestFailed { source }) => code_of(&source),
    }
}

/// Runs `op` on N as `client`; the result code. Reads that succeed must show
/// what N holds.
async fn run(op: Op, client: &zk::Client, node: &str, marker: &str) -> i32 {
    let child = format!("{node}/child");
    let new_child = format!("{node}/new");
    let read_result = |r: &zk::MultiReadResult| match r {
        zk::MultiReadResult::Error { err } => code_of(err),
        zk::MultiReadResult::Data { data, .. } => {
            assert_eq!(data, DATA, "{node}");
            OK
        }
        zk::MultiReadResult::Children { children } => {
            assert_eq!(children, &["child"], "{node}");
            OK
        }
        other => panic!("{other:?}"),
    };
    match op {
        Op::Create => code(client.create(&new_child, b"", &open()).await),
        Op::Delete => code(client.delete(&child, None).await),
        Op::SetData => code(client.set_data(node, b"changed", None).await),
        Op::GetData => code(client.get_data(node).await.map(|(data, _)| {
            assert_eq!(data, DATA, "{node}");
        })),
        Op::Exists => code(client.check_stat(node).await.map(|stat| {
            assert!(stat.is_some(), "exists {node}: no stat");
        })),
        Op::GetChildren => code(client.list_children(node).await.map(|children| {
            assert_eq!(children, ["child"], "{node}");
        })),
        Op::GetChildren2 => code(client.get_children(node).await.map(|(children, _)| {
            assert_eq!(children, ["child"], "{node}");
        })),
        Op::GetAcl => code(client.get_acl(node).await),
        Op::SetAcl => code(
            client
                .set_acl(node, zk::Acls::anyone_all().as_ref(), None)
                .await,
        ),
        Op::GetAllChildrenNumber => code(client.count_descendants_number(node).await.map(|n| {
            assert_eq!(n, 1, "{node}");
        })),
        Op::GetEphemerals => code(client.list_ephemerals(node).await.map(|paths| {
            assert!(paths.is_empty(), "{node}: {paths:?}");
        })),
        Op::Sync => code(client.sync(node).await),
        Op::AddWatch => code(
            client
                .watch(node, zk::AddWatchMode::PersistentRecursive)
                .await,
        ),
        Op::MultiCreate => multi(client, marker, |m| m.add_create(&new_child, b"", &open())).await,
        Op::MultiDelete => multi(client, marker, |m| m.add_delete(&child, None)).await,
        Op::MultiSetData => multi(client, marker, |m| m.add_set_data(node, b"changed", None)).await,
        Op::MultiCheckVersion => multi(client, marker, |m| m.add_check_version(node, 0)).await,
        Op::MultiReadGetData | Op::MultiReadGetChildren => {
            let mut reader = client.new_multi_reader();
            if op == Op::MultiReadGetData {
                reader.add_get_data(node).expect("add getData");
            } else {
                reader.add_get_children(node).expect("add getChildren");
            }
            match reader.commit().await {
                Ok(results) => {
                    assert_eq!(results.len(), 1, "{results:?}");
                    read_result(&results[0])
                }
                Err(e) => code_of(&e),
            }
        }
    }
}

/// Runs the whole matrix through sessions on `connect_string`; every
/// combination that differs from what is expected.
async fn matrix_mismatches(connect_string: &str, exists_checks_read: bool) -> Vec<String> {
    let sessions = Sessions::open_on(connect_string).await;
    sessions
        .alice
        .create("/matrix", b"", &open())
        .await
        .expect("create /matrix");

    let mut mismatches = Vec::new();
    let mut n = 0;
    for &(scheme, id, caller, relation) in SCHEME_CASES {
        for op in Op::ALL {
            let needs = op.needs(exists_checks_read);
            for granted in [needs, all_but(needs)] {
                n += 1;
                let node = format!("/matrix/{n}");
                let marker = format!("/matrix/{n}-marker");
                let entry = [acl(granted, scheme, id)];
                sessions
                    .alice
                    .create(&node, DATA, &persistent(&entry))
                    .await
                    .unwrap_or_else(|e| panic!("alice creates {node} with {entry:?}: {e}"));
                sessions
                    .superuser
                    .create(&format!("{node}/child"), b"", &open())
                    .await
                    .unwrap_or_else(|e| panic!("super creates {node}/child: {e}"));

                let before = node_state(&sessions.superuser, &node, &marker).await;
                let got = run(op, sessions.of(caller), &node, &marker).await;
                let after = node_state(&sessions.superuser, &node, &marker).await;

                let want = expected(relation, needs, granted);
                let row =
                    format!("{scheme}:{id} granting {granted}, {caller:?} does {op:?} ({node})");
                if got != want {
                    mismatches.push(format!("{row}: expected {want}, got {got}"));
                }
                if got != OK {
                    assert_eq!(after, before, "{row}: refused with {got} but changed N");
                } else if op.is_multi_write() {
                    assert!(
                        after.marker_exists,
                        "{row}: the multi succeeded without its create"
                    );
                }
            }
        }
    }
    assert_eq!(n, SCHEME_CASES.len() * Op::ALL.len() * 2);
    mismatches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheme_grants_each_operation_exactly_what_zookeeper_does() {
    let member = start_member();
    let exists_checks_read = server_version(&member) >= (3, 8, 4);
    let mismatches = matrix_mismatches(&member.connect_string(), exists_checks_read).await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The same on a follower of a 3-member ensemble: reads are answered there,
/// writes are checked by the leader against the identities the client gave the
/// follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_and_its_leader_enforce_the_same_acls() {
    // initLimit and syncLimit: Apache ZooKeeper requires them of an ensemble.
    let extra = [
        ("DigestAuthenticationProvider.superDigest", SUPER_DIGEST),
        ("initLimit", "10"),
        ("syncLimit", "5"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let ensemble = Ensemble::start_with(3, extra);
    let leader = ensemble.leader().expect("a leader");
    let follower = &ensemble.members[(leader + 1) % 3];
    let exists_checks_read = server_version(follower) >= (3, 8, 4);
    let mismatches = matrix_mismatches(&follower.connect_string(), exists_checks_read).await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A multi checks each op against the ACLs its earlier ops set: a node it
/// creates without CREATE for anyone cannot get a child in the same multi.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_checks_each_op_against_the_acls_its_earlier_ops_made() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let read_only = [acl(Perm::READ, "world", "anyone")];
    let mut multi = sessions.alice.new_multi_writer();
    multi
        .add_create("/made-read-only", b"", &persistent(&read_only))
        .expect("add");
    multi
        .add_create("/made-read-only/kid", b"", &open())
        .expect("add");
    match multi.commit().await {
        Err(zk::MultiWriteError::OperationFailed { index, source }) => {
            assert_eq!((index, code_of(&source)), (1, NO_AUTH))
        }
        other => panic!("expected the second op to fail with NoAuth: {other:?}"),
    }
    assert_eq!(
        sessions.alice.check_stat("/made-read-only").await,
        Ok(None),
        "the first op was rolled back"
    );
}

// ---------------------------------------------------------------------------
// Scheme details
// ---------------------------------------------------------------------------

/// Which error wins when a request is both unauthorised and wrong in some other
/// way: ZooKeeper checks the ACL before versions, existence of the target and
/// emptiness, so a caller without permission learns nothing about them. A
/// malformed ACL and a missing parent are reported first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_comes_before_what_the_caller_may_not_learn() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let alice = &sessions.alice;
    let read_only = [acl(Perm::READ, "world", "anyone")];
    let all_but_read = [acl(all_but(Perm::READ), "world", "anyone")];
    let bad_acl = [acl(Perm::ALL, "world", "someone")];
    alice.create("/order", b"", &open()).await.expect("create");
    alice
        .create("/order/locked", b"", &persistent(&read_only))
        .await
        .expect("create locked");
    sessions
        .superuser
        .create("/order/locked/kid", b"", &open())
        .await
        .expect("create kid");
    sessions
        .superuser
        .create("/order/locked/kid/grandkid", b"", &open())
        .await
        .expect("create grandkid");
    alice
        .create("/order/unreadable", b"", &persistent(&all_but_read))
        .await
        .expect("create unreadable");
    alice
        .create(
            "/order/ephemeral",
            b"",
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::new(&read_only)),
        )
        .await
        .expect("create ephemeral");

    let c = &sessions.anonymous;
    let check_version = |path: &'static str, version: i32| async move {
        let mut multi = c.new_multi_writer();
        multi.add_check_version(path, version).expect("add check");
        match multi.commit().await {
            Ok(_) => OK,
            Err(zk::MultiWriteError::OperationFailed { source, .. }) => code_of(&source),
            Err(zk::MultiWriteError::RequestFailed { source }) => code_of(&source),
        }
    };
    let rows: Vec<(&str, i32, i32)> = vec![
        (
            "create an existing node under a parent without CREATE",
            NO_AUTH,
            code(c.create("/order/locked/kid", b"", &open()).await),
        ),
        (
            "create with a malformed ACL under a parent without CREATE",
            INVALID_ACL,
            code(
                c.create("/order/locked/new", b"", &persistent(&bad_acl))
                    .await,
            ),
        ),
        (
            "create under an ephemeral parent without CREATE",
            NO_AUTH,
            code(c.create("/order/ephemeral/kid", b"", &open()).await),
        ),
        (
            "create under a missing parent",
            NO_NODE,
            code(c.create("/order/missing/new", b"", &open()).await),
        ),
        (
            "delete a missing node under a parent without DELETE",
            NO_AUTH,
            code(c.delete("/order/locked/missing", None).await),
        ),
        (
            "delete a node with children under a parent without DELETE",
            NO_AUTH,
            code(c.delete("/order/locked/kid", None).await),
        ),
        (
            "delete with a wrong version under a parent without DELETE",
            NO_AUTH,
            code(c.delete("/order/locked/kid", Some(5)).await),
        ),
        (
            "setData with a wrong version without WRITE",
            NO_AUTH,
            code(c.set_data("/order/locked", b"x", Some(5)).await),
        ),
        (
            "setData with a wrong version with WRITE",
            BAD_VERSION,
            code(c.set_data("/order/unreadable", b"x", Some(5)).await),
        ),
        (
            "setACL with a wrong version without ADMIN",
            NO_AUTH,
            code(c.set_acl("/order/locked", &read_only, Some(5)).await),
        ),
        (
            "setACL with a malformed ACL without ADMIN",
            INVALID_ACL,
            code(c.set_acl("/order/locked", &bad_acl, None).await),
        ),
        (
            "check a wrong version without READ",
            NO_AUTH,
            check_version("/order/unreadable", 5).await,
        ),
        (
            "check a wrong version with READ",
            BAD_VERSION,
            check_version("/order/locked", 5).await,
        ),
        (
            "getData of a missing node",
            NO_NODE,
            code(c.get_data("/order/missing").await),
        ),
    ];
    let mismatches: Vec<String> = rows
        .iter()
        .filter(|(_, want, got)| want != got)
        .map(|(what, want, got)| format!("{what}: expected {want}, got {got}"))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// CVE-2019-0201 (ZOOKEEPER-1392): getACL needs READ or ADMIN, and a caller
/// without ADMIN sees every digest id as `user:x`; other schemes are shown as is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_acl_hides_digest_hashes_from_callers_without_admin() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let guarded = [
        acl(Perm::READ, "digest", ALICE_ID),
        acl(Perm::ADMIN, "digest", BOB_ID),
        acl(Perm::READ, "ip", "127.0.0.1"),
    ];
    sessions
        .alice
        .create("/guarded", b"", &persistent(&guarded))
        .await
        .expect("create /guarded");
    let redacted = vec![
        acl(Perm::READ, "digest", "alice:x"),
        acl(Perm::ADMIN, "digest", "bob:x"),
        acl(Perm::READ, "ip", "127.0.0.1"),
    ];
    let rows = [
        (Caller::Anonymous, &redacted, "READ through ip"),
        (Caller::Alice, &redacted, "READ through digest"),
        (Caller::Bob, &guarded.to_vec(), "ADMIN"),
        (Caller::Super, &guarded.to_vec(), "super"),
    ];
    for (caller, shown, why) in rows {
        let (got, _) = sessions
            .of(caller)
            .get_acl("/guarded")
            .await
            .unwrap_or_else(|e| panic!("{caller:?} ({why}) getACL: {e}"));
        assert_eq!(&got, shown, "{caller:?} ({why})");
    }

    // ADMIN alone is enough to read the ACL, unredacted.
    sessions
        .alice
        .create(
            "/admin-only",
            b"",
            &persistent(&[acl(Perm::ADMIN, "digest", BOB_ID)]),
        )
        .await
        .expect("create /admin-only");
    let (got, _) = sessions
        .bob
        .get_acl("/admin-only")
        .await
        .expect("bob getACL");
    assert_eq!(got, [acl(Perm::ADMIN, "digest", BOB_ID)]);
    assert_eq!(
        code(sessions.bob.get_data("/admin-only").await),
        NO_AUTH,
        "ADMIN is not READ"
    );
}

/// `auth` stands for every authenticated identity of the creating session
/// (digest ids, not its ip); create refuses it without one, and ACL ids that do
/// not parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_expands_to_the_creators_identities_and_bad_ids_are_refused() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let auth_all = [acl(Perm::ALL, "auth", "")];

    sessions
        .alice
        .create("/alices", b"", &persistent(&auth_all))
        .await
        .expect("alice creates with auth");
    let (shown, _) = sessions.alice.get_acl("/alices").await.expect("getACL");
    assert_eq!(shown, [acl(Perm::ALL, "digest", ALICE_ID)]);

    let both = session(&member.connect_string(), Caller::Alice).await;
    both.auth("digest", b"bob:bob-pw").await.expect("add bob");
    both.create("/shared", b"", &persistent(&auth_all))
        .await
        .expect("create with two identities");
    let (shown, _) = both.get_acl("/shared").await.expect("getACL");
    assert_eq!(
        shown,
        [
            acl(Perm::ALL, "digest", ALICE_ID),
            acl(Perm::ALL, "digest", BOB_ID)
        ]
    );

    // The super user's `auth` is its digest identity (super is not a scheme of its own).
    sessions
        .superuser
        .create("/supers", b"", &persistent(&auth_all))
        .await
        .expect("super creates with auth");
    let (shown, _) = sessions.superuser.get_acl("/supers").await.expect("getACL");
    assert_eq!(shown, [acl(Perm::ALL, "digest", SUPER_DIGEST)]);

    let refused: &[(Caller, zk::Acl)] = &[
        (Caller::Anonymous, acl(Perm::ALL, "auth", "")),
        (Caller::Alice, acl(Perm::ALL, "world", "someone")),
        (Caller::Alice, acl(Perm::ALL, "digest", "no-colon")),
        (Caller::Alice, acl(Perm::ALL, "ip", "10.0.0.0/33")),
        (Caller::Alice, acl(Perm::ALL, "ip", "not-an-address")),
        (Caller::Alice, acl(Perm::ALL, "nosuchscheme", "x")),
    ];
    for (i, (caller, entry)) in refused.iter().enumerate() {
        let path = format!("/refused-{i}");
        let got = code(
            sessions
                .of(*caller)
                .create(&path, b"", &persistent(std::slice::from_ref(entry)))
                .await,
        );
        assert_eq!(got, INVALID_ACL, "{caller:?} creates with {entry:?}");
        let setacl = code(
            sessions
                .alice
                .set_acl("/alices", std::slice::from_ref(entry), None)
                .await,
        );
        if *caller == Caller::Alice {
            assert_eq!(setacl, INVALID_ACL, "setACL {entry:?}");
        }
    }
}

/// getEphemerals lists the caller's own ephemerals under a prefix whatever
/// their ACL, and never another session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ephemerals_lists_only_the_sessions_own_nodes_whatever_their_acl() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    sessions
        .alice
        .create("/eph", b"", &open())
        .await
        .expect("create /eph");
    let nobody = [acl(Perm::ALL, "ip", "10.0.0.0/8")];
    let ephemeral = |acls| zk::CreateMode::Ephemeral.with_acls(acls);
    sessions
        .alice
        .create(
            "/eph/alices-unreadable",
            b"",
            &ephemeral(zk::Acls::new(&nobody)),
        )
        .await
        .expect("alice's ephemeral");
    sessions
        .bob
        .create("/eph/bobs", b"", &ephemeral(zk::Acls::anyone_all()))
        .await
        .expect("bob's ephemeral");

    let listed = |c: Caller, prefix: &'static str| {
        let client = sessions.of(c);
        async move {
            let mut paths = client
                .list_ephemerals(prefix)
                .await
                .unwrap_or_else(|e| panic!("{c:?} getEphemerals {prefix}: {e}"));
            paths.sort();
            paths
        }
    };
    assert_eq!(
        listed(Caller::Alice, "/eph").await,
        ["/eph/alices-unreadable"]
    );
    assert_eq!(listed(Caller::Alice, "/").await, ["/eph/alices-unreadable"]);
    assert_eq!(listed(Caller::Bob, "/eph").await, ["/eph/bobs"]);
    assert!(listed(Caller::Anonymous, "/eph").await.is_empty());
    assert!(listed(Caller::Super, "/").await.is_empty());
    assert_eq!(
        code(sessions.alice.get_data("/eph/alices-unreadable").await),
        NO_AUTH,
        "listing is not reading"
    );
}

/// getAllChildrenNumber needs READ on the node only; it counts descendants the
/// caller could not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_children_number_counts_descendants_the_caller_cannot_read() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let alice_only = [acl(Perm::ALL, "digest", ALICE_ID)];
    let alice = &sessions.alice;
    alice.create("/count", b"", &open()).await.expect("create");
    alice
        .create("/count/hidden", b"", &persistent(&alice_only))
        .await
        .expect("create hidden");
    alice
        .create("/count/hidden/a", b"", &open())
        .await
        .expect("create hidden/a");
    alice
        .create("/count/hidden/b", b"", &persistent(&alice_only))
        .await
        .expect("create hidden/b");
    let count = |c: Caller, p: &'static str| {
        let client = sessions.of(c);
        async move { client.count_descendants_number(p).await }
    };
    assert_eq!(count(Caller::Anonymous, "/count").await, Ok(3));
    assert_eq!(
        count(Caller::Anonymous, "/count/hidden").await,
        Err(zk::Error::NoAuth)
    );
    assert_eq!(count(Caller::Alice, "/count/hidden").await, Ok(2));
    assert_eq!(count(Caller::Anonymous, "/count/hidden/a").await, Ok(0));
    assert_eq!(
        count(Caller::Anonymous, "/nope").await,
        Err(zk::Error::NoNode)
    );
    // Listing shows the names of children the caller cannot read.
    assert_eq!(
        sessions.anonymous.list_children("/count").await,
        Ok(vec!["hidden".to_string()])
    );
}

// ---------------------------------------------------------------------------
// Watches (CVE-2024-23944, ZOOKEEPER-4799)
// ---------------------------------------------------------------------------

/// The events `events` has been sent so far. A round trip on the watcher's own
/// session comes first: the server sends an event before any later reply, and
/// the client hands events out in the order it reads them.
async fn events_so_far(
    watcher: &zk::Client,
    events: &mut zk::PersistentWatcher,
) -> Vec<(zk::EventType, String)> {
    watcher.check_stat("/").await.expect("round trip");
    let mut seen = Vec::new();
    while let Ok(e) = tokio::time::timeout(Duration::ZERO, events.changed()).await {
        seen.push((e.event_type, e.path));
    }
    seen
}

fn created(p: &str) -> (zk::EventType, String) {
    (zk::EventType::NodeCreated, p.to_string())
}
fn deleted(p: &str) -> (zk::EventType, String) {
    (zk::EventType::NodeDeleted, p.to_string())
}
fn data_changed(p: &str) -> (zk::EventType, String) {
    (zk::EventType::NodeDataChanged, p.to_string())
}
fn children_changed(p: &str) -> (zk::EventType, String) {
    (zk::EventType::NodeChildrenChanged, p.to_string())
}

/// A persistent recursive watcher hears of a node only if it may READ that node;
/// a readable node below an unreadable one is heard of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_watch_hears_only_of_nodes_the_watcher_may_read() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let alice = &sessions.alice;
    let alice_only = [acl(Perm::ALL, "digest", ALICE_ID)];
    alice.create("/tree", b"", &open()).await.expect("create");
    let mut events = sessions
        .anonymous
        .watch("/tree", zk::AddWatchMode::PersistentRecursive)
        .await
        .expect("addWatch on a readable node");

    alice
        .create("/tree/secret", b"", &persistent(&alice_only))
        .await
        .expect("create secret");
    alice
        .set_data("/tree/secret", b"x", None)
        .await
        .expect("set secret");
    alice
        .create("/tree/secret/visible", b"", &open())
        .await
        .expect("create visible");
    alice
        .delete("/tree/secret/visible", None)
        .await
        .expect("delete visible");
    alice
        .delete("/tree/secret", None)
        .await
        .expect("delete secret");
    alice
        .create("/tree/public", b"", &open())
        .await
        .expect("create public");
    assert_eq!(
        events_so_far(&sessions.anonymous, &mut events).await,
        [
            created("/tree/secret/visible"),
            deleted("/tree/secret/visible"),
            created("/tree/public"),
        ]
    );

    // The owner hears of everything.
    let mut owners = alice
        .watch("/tree", zk::AddWatchMode::PersistentRecursive)
        .await
        .expect("alice's watch");
    alice
        .create("/tree/secret", b"", &persistent(&alice_only))
        .await
        .expect("create secret again");
    assert_eq!(
        events_so_far(alice, &mut owners).await,
        [created("/tree/secret")]
    );
    assert!(events_so_far(&sessions.anonymous, &mut events)
        .await
        .is_empty());
}

/// addWatch needs no permission, but a persistent watch on a node the watcher
/// may not READ delivers nothing (data or child events) until the ACL lets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_watch_on_an_unreadable_node_is_silent_until_its_acl_opens() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let alice = &sessions.alice;
    alice
        .create(
            "/hidden",
            b"",
            &persistent(&[acl(Perm::ALL, "digest", ALICE_ID)]),
        )
        .await
        .expect("create");
    let mut events = sessions
        .anonymous
        .watch("/hidden", zk::AddWatchMode::Persistent)
        .await
        .expect("addWatch on an unreadable node");
    alice.set_data("/hidden", b"1", None).await.expect("set");
    alice
        .create("/hidden/kid", b"", &open())
        .await
        .expect("create kid");
    alice.delete("/hidden/kid", None).await.expect("delete kid");
    assert!(events_so_far(&sessions.anonymous, &mut events)
        .await
        .is_empty());

    let readable = [
        acl(Perm::ALL, "digest", ALICE_ID),
        acl(Perm::READ, "world", "anyone"),
    ];
    alice
        .set_acl("/hidden", &readable, None)
        .await
        .expect("setACL");
    alice.set_data("/hidden", b"2", None).await.expect("set");
    alice
        .create("/hidden/kid", b"", &open())
        .await
        .expect("create kid");
    assert_eq!(
        events_so_far(&sessions.anonymous, &mut events).await,
        [data_changed("/hidden"), children_changed("/hidden")]
    );
}

/// One-shot watches are filtered too: a child event is judged by the parent's
/// ACL, a NodeCreated by the new node's, and a filtered event still uses up
/// the watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watch_events_are_filtered_by_the_acl_too() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let alice = &sessions.alice;
    let watcher = &sessions.anonymous;
    let alice_only = [acl(Perm::ALL, "digest", ALICE_ID)];
    alice.create("/parent", b"", &open()).await.expect("create");

    let (_, _, children) = watcher
        .get_and_watch_children("/parent")
        .await
        .expect("watch children");
    let (stat, later) = watcher
        .check_and_watch_stat("/later")
        .await
        .expect("watch a missing node");
    assert!(stat.is_none());

    alice
        .create("/parent/secret", b"", &persistent(&alice_only))
        .await
        .expect("create secret child");
    alice
        .create("/later", b"", &persistent(&alice_only))
        .await
        .expect("create /later");
    watcher.check_stat("/").await.expect("round trip");
    let event = tokio::time::timeout(GUARD, children.changed())
        .await
        .expect("the child event");
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeChildrenChanged, "/parent")
    );
    let mut later = Box::pin(later.changed());
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut later)
            .await
            .is_err(),
        "NodeCreated of an unreadable node was delivered"
    );

    // The filtered event used the watch up: opening the node and changing it
    // fires nothing more.
    let readable = [
        acl(Perm::ALL, "digest", ALICE_ID),
        acl(Perm::READ, "world", "anyone"),
    ];
    alice
        .set_acl("/later", &readable, None)
        .await
        .expect("setACL");
    alice.set_data("/later", b"x", None).await.expect("set");
    watcher.check_stat("/").await.expect("round trip");
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut later)
            .await
            .is_err(),
        "the one-shot watch fired after its event was filtered"
    );
}

/// Each event is judged by the ACL its node had at that step of the
/// transaction, not after it: in one multi, the NodeDeleted of an unreadable
/// node stays hidden when a readable node of the same name replaces it, and the
/// other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_within_a_multi_are_judged_by_the_acl_of_their_step() {
    let member = start_member();
    let sessions = Sessions::open(&member).await;
    let alice = &sessions.alice;
    let alice_only = [acl(Perm::ALL, "digest", ALICE_ID)];
    alice.create("/swap", b"", &open()).await.expect("create");
    alice
        .create("/swap/opens", b"", &persistent(&alice_only))
        .await
        .expect("create opens");
    alice
        .create("/swap/closes", b"", &open())
        .await
        .expect("create closes");
    let mut events = sessions
        .anonymous
        .watch("/swap", zk::AddWatchMode::PersistentRecursive)
        .await
        .expect("addWatch");

    let mut multi = alice.new_multi_writer();
    multi.add_delete("/swap/opens", None).expect("add");
    multi.add_create("/swap/opens", b"", &open()).expect("add");
    multi.add_delete("/swap/closes", None).expect("add");
    multi
        .add_create("/swap/closes", b"", &persistent(&alice_only))
        .expect("add");
    multi.commit().await.expect("multi");
    assert_eq!(
        events_so_far(&sessions.anonymous, &mut events).await,
        [created("/swap/opens"), deleted("/swap/closes")]
    );
}
