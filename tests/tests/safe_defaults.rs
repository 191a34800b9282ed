//! Issue 9's safe defaults and their switches: admin commands that change
//! state need the super user when `admin.needClientAuth` is on, and ACLs hold
//! unless `skipACL=yes` turns them off.

use rookery_tests::client::connect;
use rookery_tests::{http_get_with, Member};
use zookeeper_client as zk;

/// `superDigest` for super:secret: base64(sha1("super:secret")), ZooKeeper's
/// DigestAuthenticationProvider.generateDigest.
const SUPER_DIGEST: &str = "super:lK75jTNcA+U9vtVEw5vB51mj/w4=";

fn member_with(extra: &[(&str, &str)]) -> Member {
    Member::start_with_extra(extra)
}

#[test]
fn admin_commands_that_change_state_need_the_super_user_when_asked() {
    let member = member_with(&[
        ("admin.needClientAuth", "true"),
        ("DigestAuthenticationProvider.superDigest", SUPER_DIGEST),
    ]);
    let get = |cmd: &str, headers: &[(&str, &str)]| {
        http_get_with(member.admin_addr(), &format!("/commands/{cmd}"), headers)
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    };
    let (status, body) = get("srst", &[]);
    assert_eq!(status, 401, "srst without credentials: {body}");
    assert!(body.contains("Authorization"), "{body}");
    let (status, body) = get("crst", &[("Authorization", "digest super:wrong")]);
    assert_eq!(status, 403, "crst with a wrong password: {body}");
    let (status, body) = get("stat_reset", &[("Authorization", "digest super:secret")]);
    assert_eq!(status, 200, "stat_reset as the super user: {body}");
    assert!(body.contains("\"error\" : null"), "{body}");
    // Commands that only look need nothing.
    let (status, body) = get("ruok", &[]);
    assert_eq!(status, 200, "ruok: {body}");
}

#[test]
fn without_need_client_auth_the_admin_commands_are_open_as_in_zookeeper() {
    let member = member_with(&[]);
    let (status, body) =
        http_get_with(member.admin_addr(), "/commands/srst", &[]).expect("srst answered");
    assert_eq!(status, 200, "{body}");
}

/// A node only alice may touch, made by alice; then what a stranger can do.
async fn strangers_view(member: &Member) -> (Result<(Vec<u8>, zk::Stat), zk::Error>, bool) {
    let alice = zk::Client::connector()
        .with_auth("digest", b"alice:pw")
        .connect(&member.connect_string())
        .await
        .expect("alice connects");
    let only_alice = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    alice
        .create("/alices", b"secret", &only_alice)
        .await
        .expect("alice creates her node");
    let stranger = connect(&member.connect_string()).await;
    let read = stranger.get_data("/alices").await;
    let wrote = stranger.set_data("/alices", b"mine", None).await.is_ok();
    (read, wrote)
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_hold_by_default_and_skip_acl_turns_them_off() {
    let guarded = member_with(&[]);
    let (read, wrote) = strangers_view(&guarded).await;
    assert_eq!(read.map(|r| r.0), Err(zk::Error::NoAuth));
    assert!(!wrote, "a stranger changed alice's node");

    let open = member_with(&[("skipACL", "yes")]);
    let (read, wrote) = strangers_view(&open).await;
    assert_eq!(read.map(|r| r.0), Ok(b"secret".to_vec()));
    assert!(wrote, "skipACL=yes: the stranger may write too");
}
