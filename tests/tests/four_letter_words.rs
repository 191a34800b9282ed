//! Four-letter words on the client port, as Apache ZooKeeper 3.8 answers them.

use rookery_tests::{Member, MemberOptions};

#[test]
fn four_letter_words() {
    let member = Member::start_with(MemberOptions {
        four_letter_words: "ruok,srvr,conf,envi".to_string(),
        ..MemberOptions::default()
    });

    // Exactly "imok", no newline.
    assert_eq!(member.four_letter("ruok"), "imok");

    let srvr = member.four_letter("srvr");
    for needle in [
        "Zookeeper version:",
        "Latency min/avg/max:",
        "Zxid: 0x",
        "Mode: standalone",
        "Node count:",
    ] {
        assert!(srvr.contains(needle), "srvr lacks {needle:?}:\n{srvr}");
    }

    // A known word that is not whitelisted gets this exact line and the connection closes.
    assert_eq!(
        member.four_letter("stat"),
        "stat is not executed because it is not in the whitelist.\n"
    );

    let conf = member.four_letter("conf");
    let port_line = format!("clientPort={}", member.port());
    assert!(
        conf.contains(&port_line),
        "conf lacks {port_line:?}:\n{conf}"
    );
    assert!(
        conf.contains("tickTime=2000"),
        "conf lacks tickTime:\n{conf}"
    );

    // kazoo's server_version() parses the zookeeper.version= line.
    let envi = member.four_letter("envi");
    assert!(envi.starts_with("Environment:\n"), "envi:\n{envi}");
    assert!(envi.contains("zookeeper.version="), "envi:\n{envi}");

    // With "*" every word is allowed; stat is srvr plus the client list.
    let open = Member::start_with(MemberOptions {
        four_letter_words: "*".to_string(),
        ..MemberOptions::default()
    });
    let stat = open.four_letter("stat");
    for needle in [
        "Zookeeper version:",
        "Clients:",
        "Mode: standalone",
        "Node count:",
    ] {
        assert!(stat.contains(needle), "stat lacks {needle:?}:\n{stat}");
    }
    assert_eq!(open.four_letter("ruok"), "imok");
}
