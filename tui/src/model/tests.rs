//! State + action → state: the model driven without a terminal or a server.

use super::ensemble::{EventKind, Lag, LatencySource, PollRound, Role};
use super::forms::{CreateKind, InputKey, WriteOp, WriteOutcome};
use super::*;
use crate::fixtures::{self, node, T0};

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| app.update(Action::Input(InputKey::Char(c))))
        .collect()
}

fn cmd(app: &mut App, c: Cmd) -> Vec<Effect> {
    app.update(Action::Cmd(c))
}

fn input(app: &mut App, k: InputKey) -> Vec<Effect> {
    app.update(Action::Input(k))
}

#[test]
fn path_opens_the_parent_and_selects_the_node() {
    let m = fixtures::members();
    let mut app = App::new("c", &m, Some("/app/config"), false);
    assert_eq!(app.view, View::Tree);
    assert_eq!(
        app.start(),
        vec![Effect::ListChildren { dir: "/app".into() }]
    );
    let fx = app.update(Action::Children {
        dir: "/app".into(),
        result: Ok(vec!["zeta".into(), "config".into(), "alpha".into()]),
    });
    assert_eq!(app.browser.selected_name(), Some("config"));
    assert_eq!(app.node, NodeState::Loading);
    assert!(fx.contains(&Effect::GetNode {
        path: "/app/config".into()
    }));
    assert!(fx.contains(&Effect::Watch {
        paths: vec!["/app".into(), "/app/config".into()]
    }));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::FetchStats { names, .. } if names.len() == 3)));
}

#[test]
fn without_a_path_it_starts_on_the_ensemble_at_the_root() {
    let mut app = App::new("c", &fixtures::members(), None, false);
    assert_eq!(app.view, View::Ensemble);
    assert_eq!(app.start(), vec![Effect::ListChildren { dir: "/".into() }]);
}

#[test]
fn results_for_what_is_no_longer_on_screen_are_ignored() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Down);
    assert_eq!(app.node_path.as_deref(), Some("/app/job-0000"));
    app.update(Action::Node {
        path: "/app/config".into(),
        result: Ok(Some(node(b"late", 9, 0))),
    });
    assert_eq!(app.node, NodeState::Loading);
    app.update(Action::Children {
        dir: "/elsewhere".into(),
        result: Ok(vec![]),
    });
    assert_eq!(app.browser.total_len(), 43);
}

#[test]
fn watches_follow_the_screen_and_reload_what_fired() {
    let mut app = fixtures::app();
    let fx = cmd(&mut app, Cmd::Down);
    assert!(fx.contains(&Effect::Watch {
        paths: vec!["/app".into(), "/app/job-0000".into()]
    }));
    let fx = app.update(Action::Watched {
        path: "/app".into(),
    });
    assert_eq!(fx, vec![Effect::ListChildren { dir: "/app".into() }]);
    let fx = app.update(Action::Watched {
        path: "/app/job-0000".into(),
    });
    assert_eq!(
        fx,
        vec![Effect::GetNode {
            path: "/app/job-0000".into()
        }]
    );
    assert!(app
        .update(Action::Watched {
            path: "/app/config".into()
        })
        .is_empty());
}

#[test]
fn open_and_back_move_through_the_tree() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Bottom);
    cmd(&mut app, Cmd::Top);
    cmd(&mut app, Cmd::Down); // config, job-0000, ..., locks, workers
    let fx = cmd(&mut app, Cmd::Open);
    assert_eq!(app.browser.dir, "/app/job-0000");
    assert_eq!(
        fx[0],
        Effect::ListChildren {
            dir: "/app/job-0000".into()
        }
    );
    let fx = cmd(&mut app, Cmd::Back);
    assert_eq!(app.browser.dir, "/app");
    assert_eq!(fx[0], Effect::ListChildren { dir: "/app".into() });
    app.update(Action::Children {
        dir: "/app".into(),
        result: Ok(vec!["config".into(), "job-0000".into(), "locks".into()]),
    });
    assert_eq!(
        app.browser.selected_name(),
        Some("job-0000"),
        "back selects where we came from"
    );
}

#[test]
fn jump_and_filter() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Jump);
    for _ in 0..20 {
        input(&mut app, InputKey::Backspace);
    }
    typed(&mut app, "/other/node/");
    let fx = input(&mut app, InputKey::Enter);
    assert_eq!(app.modal, Modal::None);
    assert_eq!(app.browser.dir, "/other");
    assert_eq!(app.browser.select_name.as_deref(), Some("node"));
    assert_eq!(
        fx[0],
        Effect::ListChildren {
            dir: "/other".into()
        }
    );

    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Filter);
    typed(&mut app, "LOCK");
    assert_eq!(app.browser.visible_len(), 1);
    assert_eq!(app.node_path.as_deref(), Some("/app/locks"));
    input(&mut app, InputKey::Cancel);
    assert_eq!(app.browser.visible_len(), 43);
}

#[test]
fn edit_in_place_carries_the_version_and_a_conflict_shows_both() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Edit);
    assert!(matches!(&app.modal, Modal::Edit(e) if e.version == 3));
    input(&mut app, InputKey::End);
    typed(&mut app, " ");
    let fx = input(&mut app, InputKey::Save);
    let Some(Effect::Write(op)) = fx.first().cloned() else {
        panic!("no write: {fx:?}");
    };
    assert!(
        matches!(&op, WriteOp::SetData { path, version: 3, data } if path == "/app/config" && data.ends_with(b"} "))
    );

    let theirs = node(b"{\"changed\":true}", 5, 0);
    app.update(Action::Written {
        op: op.clone(),
        outcome: WriteOutcome::Conflict {
            current: Some(theirs.clone()),
        },
    });
    assert!(matches!(&app.modal, Modal::Conflict(c) if c.theirs.as_ref() == Some(&theirs)));
    // Retry writes mine against the version now on the server.
    let fx = cmd(&mut app, Cmd::Retry);
    assert!(matches!(
        &fx[..],
        [Effect::Write(WriteOp::SetData { version: 5, .. })]
    ));
    assert_eq!(app.modal, Modal::None);

    // Or edit again: the editor starts from mine, against version 5.
    app.update(Action::Written {
        op,
        outcome: WriteOutcome::Conflict {
            current: Some(theirs),
        },
    });
    cmd(&mut app, Cmd::Reedit);
    assert!(
        matches!(&app.modal, Modal::Edit(e) if e.version == 5 && e.area.text().ends_with("} "))
    );
    input(&mut app, InputKey::Cancel);

    // Or discard.
    app.update(Action::Written {
        op: WriteOp::Delete {
            path: "/app/config".into(),
            version: 3,
            recursive: false,
        },
        outcome: WriteOutcome::Conflict { current: None },
    });
    assert!(
        cmd(&mut app, Cmd::Retry).is_empty(),
        "nothing to retry against a deleted node"
    );
    cmd(&mut app, Cmd::Discard);
    assert_eq!(app.modal, Modal::None);
}

#[test]
fn external_edit_writes_with_the_version_seen() {
    let mut app = fixtures::app();
    let fx = cmd(&mut app, Cmd::EditExternal);
    assert!(matches!(&fx[..], [Effect::OpenEditor { version: 3, .. }]));
    let fx = app.update(Action::Edited {
        path: "/app/config".into(),
        version: 3,
        result: Ok(Some(b"new".to_vec())),
    });
    assert_eq!(
        fx,
        vec![Effect::Write(WriteOp::SetData {
            path: "/app/config".into(),
            data: b"new".to_vec(),
            version: 3
        })]
    );
    assert!(app
        .update(Action::Edited {
            path: "/app/config".into(),
            version: 3,
            result: Ok(None),
        })
        .is_empty());
}

#[test]
fn binary_data_is_not_edited_in_place() {
    let mut app = fixtures::app();
    app.node = NodeState::Loaded(node(&[0xff, 0xfe, 0x00], 1, 0));
    cmd(&mut app, Cmd::Edit);
    assert_eq!(app.modal, Modal::None);
    assert!(app
        .status
        .as_ref()
        .is_some_and(|s| s.error && s.text.contains("$EDITOR")));
}

#[test]
fn read_only_disables_every_write() {
    let m = fixtures::members();
    let mut app = App::new("c", &m, Some("/app/config"), true);
    app.update(Action::Children {
        dir: "/app".into(),
        result: Ok(vec!["config".into()]),
    });
    app.update(Action::Node {
        path: "/app/config".into(),
        result: Ok(Some(node(b"x", 1, 2))),
    });
    for c in [
        Cmd::Create,
        Cmd::Edit,
        Cmd::EditExternal,
        Cmd::Delete,
        Cmd::SetAcl,
    ] {
        assert!(cmd(&mut app, c).is_empty(), "{c:?}");
        assert_eq!(app.modal, Modal::None, "{c:?}");
        assert!(app
            .status
            .as_ref()
            .is_some_and(|s| s.text.contains("read-only")));
    }
}

#[test]
fn deleting_a_leaf_takes_two_keys() {
    let mut app = fixtures::app();
    let fx = cmd(&mut app, Cmd::Delete);
    assert!(fx.is_empty(), "no children: nothing to count");
    assert!(matches!(&app.modal, Modal::Delete(d) if d.descendants == Some(0)));
    assert!(
        input(&mut app, InputKey::Enter).is_empty(),
        "Enter alone does not delete"
    );
    let fx = input(&mut app, InputKey::Char('y'));
    assert_eq!(
        fx,
        vec![Effect::Write(WriteOp::Delete {
            path: "/app/config".into(),
            version: 3,
            recursive: false
        })]
    );
}

#[test]
fn recursive_delete_needs_the_count_typed() {
    let mut app = fixtures::app();
    app.node = NodeState::Loaded(node(b"", 2, 3));
    let fx = cmd(&mut app, Cmd::Delete);
    assert_eq!(
        fx,
        vec![Effect::CountDescendants {
            path: "/app/config".into()
        }]
    );
    assert!(
        input(&mut app, InputKey::Char('y')).is_empty(),
        "still counting"
    );
    app.update(Action::Descendants {
        path: "/app/config".into(),
        result: Ok(4),
    });
    assert!(
        input(&mut app, InputKey::Char('y')).is_empty(),
        "y is not the count"
    );
    typed(&mut app, "4");
    assert!(
        input(&mut app, InputKey::Enter).is_empty(),
        "4 is the descendants, not the total"
    );
    assert!(matches!(&app.modal, Modal::Delete(d) if d.error.is_some()));
    input(&mut app, InputKey::Backspace);
    typed(&mut app, "5");
    let fx = input(&mut app, InputKey::Enter);
    assert_eq!(
        fx,
        vec![Effect::Write(WriteOp::Delete {
            path: "/app/config".into(),
            version: 2,
            recursive: true
        })]
    );
}

#[test]
fn create_every_kind() {
    for (steps, kind, ttl) in [
        (0, CreateKind::Persistent, None),
        (1, CreateKind::PersistentSequential, None),
        (2, CreateKind::Ephemeral, None),
        (3, CreateKind::EphemeralSequential, None),
        (4, CreateKind::Container, None),
        (5, CreateKind::Ttl, Some(60_000)),
        (6, CreateKind::TtlSequential, Some(60_000)),
    ] {
        let mut app = fixtures::app();
        cmd(&mut app, Cmd::Create);
        typed(&mut app, "new");
        input(&mut app, InputKey::Tab);
        for _ in 0..steps {
            input(&mut app, InputKey::Right);
        }
        input(&mut app, InputKey::Tab);
        if ttl.is_some() {
            input(&mut app, InputKey::Tab);
        }
        typed(&mut app, "hello");
        let fx = input(&mut app, InputKey::Enter);
        assert_eq!(
            fx,
            vec![Effect::Write(WriteOp::Create {
                path: "/app/new".into(),
                data: b"hello".to_vec(),
                kind,
                ttl_ms: ttl
            })],
            "{kind:?}"
        );
    }
}

#[test]
fn a_created_node_is_selected_and_a_failure_keeps_the_form() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Create);
    let op = WriteOp::Create {
        path: "/app/job-".into(),
        data: vec![],
        kind: CreateKind::PersistentSequential,
        ttl_ms: None,
    };
    app.update(Action::Written {
        op: op.clone(),
        outcome: WriteOutcome::Failed("a node with that path exists".into()),
    });
    assert!(matches!(&app.modal, Modal::Create(f) if f.error.is_some()));
    let fx = app.update(Action::Written {
        op,
        outcome: WriteOutcome::Done {
            created: Some("/app/job-0000000040".into()),
        },
    });
    assert_eq!(app.modal, Modal::None);
    assert!(fx.contains(&Effect::ListChildren { dir: "/app".into() }));
    assert_eq!(app.browser.select_name.as_deref(), Some("job-0000000040"));
}

#[test]
fn acl_edit_parses_and_carries_the_acl_version() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::SetAcl);
    input(&mut app, InputKey::End);
    typed(&mut app, ",ip:10.0.0.0/8:z");
    assert!(input(&mut app, InputKey::Enter).is_empty());
    assert!(
        matches!(&app.modal, Modal::Acl(a) if a.error.as_deref().is_some_and(|e| e.contains("'z'")))
    );
    input(&mut app, InputKey::Backspace);
    typed(&mut app, "r");
    let fx = input(&mut app, InputKey::Enter);
    assert!(
        matches!(&fx[..], [Effect::Write(WriteOp::SetAcl { version: 0, acl, .. })] if acl.len() == 3)
    );
}

#[test]
fn a_new_session_reloads_and_rewatches() {
    let mut app = fixtures::app();
    let fx = app.update(Action::Session(Session::Disconnected));
    assert!(fx.is_empty());
    let fx = app.update(Action::Session(Session::Connected(0x1_0000_abcd)));
    assert!(fx.contains(&Effect::ListChildren { dir: "/app".into() }));
    assert!(fx.iter().any(|e| matches!(e, Effect::Watch { .. })));
    let fx = app.update(Action::Session(Session::Connected(0x1_0000_abcd)));
    assert!(fx.is_empty(), "same session, already connected");
    let fx = app.update(Action::Session(Session::Connected(0x2_0000_0001)));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Watch { .. })),
        "new session: watches again"
    );
}

#[test]
fn help_closes_on_any_key_and_views_switch() {
    let mut app = fixtures::app();
    cmd(&mut app, Cmd::Help);
    assert_eq!(app.modal, Modal::Help);
    cmd(&mut app, Cmd::Down);
    assert_eq!(app.modal, Modal::None);
    cmd(&mut app, Cmd::NextView);
    assert_eq!(app.view, View::Ensemble);
    cmd(&mut app, Cmd::Down);
    assert_eq!(app.ensemble.selected, 1);
    cmd(&mut app, Cmd::Quit);
    assert!(app.quit);
}

#[test]
fn status_messages_expire() {
    let mut app = fixtures::app();
    app.read_only = true;
    cmd(&mut app, Cmd::Create);
    assert!(app.status.is_some());
    app.update(Action::Tick {
        now_ms: T0 + 60_000,
    });
    assert!(app.status.is_none());
}

// ---- ensemble ----

fn ensemble_after(n: usize) -> ensemble::EnsembleState {
    let mut e = ensemble::EnsembleState::new(&fixtures::members());
    for r in fixtures::rounds().iter().take(n) {
        e.apply(r);
    }
    e
}

#[test]
fn roles_lag_and_leader() {
    let e = ensemble_after(1);
    assert_eq!(e.leader, Some(0));
    let roles: Vec<Role> = e.members.iter().map(|m| m.role).collect();
    assert_eq!(roles, vec![Role::Leader, Role::Follower, Role::Follower]);
    assert_eq!(e.members[0].lag, None);
    assert_eq!(e.members[1].lag, Some(Lag::Txns(0)));
    assert_eq!(e.members[2].lag, Some(Lag::Txns(2)));
    assert_eq!(e.members[0].epoch, Some(2));
    assert_eq!(e.members[1].sessions, Some(7));
    assert!(matches!(
        &e.events.back().map(|ev| &ev.kind),
        Some(EventKind::LeaderChanged { from: None, .. })
    ));
}

#[test]
fn rates_and_quantiles_come_from_the_interval() {
    let e = ensemble_after(2);
    let m = &e.members[0];
    assert_eq!(m.latency_source, LatencySource::Histogram);
    // 500 requests in one second.
    assert_eq!(m.requests_per_s, Some(500.0));
    // Of those 500: 450 ≤ 0.5 ms, 45 in (0.5, 1], 5 in (1, 5] ms.
    let p50 = m.p50_ms.expect("p50");
    assert!(p50 > 0.0 && p50 <= 0.5, "{p50}");
    let p99 = m.p99_ms.expect("p99");
    assert!(p99 > 0.5 && p99 <= 5.0, "{p99}");
    let fsync = m.fsync_p99_ms.expect("fsync");
    assert!(fsync > 1.0 && fsync <= 2.0, "{fsync}");
    // Followers without /metrics: mntr packets for the rate, srvr average only.
    let f = &e.members[1];
    assert_eq!(f.latency_source, LatencySource::SrvrAverage);
    assert_eq!(f.requests_per_s, Some(1.0));
    assert_eq!(f.history.requests.len(), 2);
}

#[test]
fn an_election_is_timed_and_logged() {
    let e = ensemble_after(5);
    assert_eq!(e.leader, Some(1));
    assert_eq!(e.members[0].role, Role::Down);
    assert_eq!(e.members[1].role, Role::Leader);
    assert_eq!(e.elections.len(), 1);
    let el = &e.elections[0];
    assert_eq!(el.previous.as_deref(), Some("10.0.0.1:2181"));
    assert_eq!(el.leader.as_deref(), Some("10.0.0.2:2181"));
    assert_eq!(el.observed_ms(), Some(2000));
    assert_eq!(el.epoch, Some(3));
    let kinds: Vec<String> = e.events.iter().map(|ev| ev.kind.to_string()).collect();
    assert_eq!(
        kinds,
        vec![
            "leader: 10.0.0.1:2181 (epoch 2)",
            "member lost: 10.0.0.1:2181 (connection refused)",
            "election started: leader 10.0.0.1:2181 gone",
            "leader changed: 10.0.0.1:2181 → 10.0.0.2:2181 (epoch 3)",
        ]
    );
}

#[test]
fn a_member_back_and_behind_is_marked() {
    let e = ensemble_after(6);
    let m = &e.members[0];
    assert_eq!(m.role, Role::Follower);
    assert_eq!(m.lag, Some(Lag::Txns(1501)));
    assert!(m.is_marked());
    let last: Vec<String> = e
        .events
        .iter()
        .rev()
        .take(2)
        .map(|ev| ev.kind.to_string())
        .collect();
    assert_eq!(
        last,
        vec![
            "member behind: 10.0.0.1:2181 is 1501 txns behind the leader",
            "member back: 10.0.0.1:2181 as follower",
        ]
    );
}

#[test]
fn a_leader_change_between_polls_is_still_an_election() {
    let m = fixtures::members();
    let mut e = ensemble::EnsembleState::new(&m);
    let round = |at: u64, leader: usize| PollRound {
        at_ms: at,
        members: (0..3)
            .map(|i| {
                let mode = if i == leader { "leader" } else { "follower" };
                fixtures::serving(&m[i], mode, 0x5_0000_0001, None)
            })
            .collect(),
    };
    e.apply(&round(T0, 0));
    e.apply(&round(T0 + 1000, 2));
    assert_eq!(e.elections.len(), 1);
    assert_eq!(e.elections[0].observed_ms(), Some(0));
    assert_eq!(e.leader, Some(2));
}

#[test]
fn session_expiry_spikes_are_logged() {
    let m = fixtures::members();
    let mut e = ensemble::EnsembleState::new(&m[..1]);
    let with_expired = |at: u64, n: u64| PollRound {
        at_ms: at,
        members: vec![fixtures::serving(
            &m[0],
            "standalone",
            1,
            Some(&format!(
                "rookery_session_events_total{{event=\"expired\"}} {n}\n"
            )),
        )],
    };
    e.apply(&with_expired(T0, 100));
    e.apply(&with_expired(T0 + 1000, 102));
    assert!(!e
        .events
        .iter()
        .any(|ev| matches!(ev.kind, EventKind::ExpirySpike { .. })));
    e.apply(&with_expired(T0 + 2000, 140));
    assert!(e
        .events
        .iter()
        .any(|ev| matches!(ev.kind, EventKind::ExpirySpike { count: 38, .. })));
    assert_eq!(
        e.leader,
        Some(0),
        "a standalone server counts as its own leader"
    );
}

#[test]
fn apache_zookeeper_without_metrics_uses_mntr_percentiles() {
    let m = fixtures::members();
    let mut e = ensemble::EnsembleState::new(&m[..1]);
    let mut s = fixtures::serving(&m[0], "standalone", 0x10, None);
    s.mntr.insert("zk_p50_readlatency".into(), "0.3".into());
    s.mntr.insert("zk_p99_readlatency".into(), "4".into());
    s.mntr.insert("zk_p99_updatelatency".into(), "6.5".into());
    e.apply(&PollRound {
        at_ms: T0,
        members: vec![s],
    });
    let st = &e.members[0];
    assert_eq!(st.latency_source, LatencySource::Mntr);
    assert_eq!(st.p50_ms, Some(0.3));
    assert_eq!(st.p99_ms, Some(6.5));
    assert_eq!(st.role, Role::Standalone);
}

#[test]
fn a_read_only_member_and_a_membership_change_are_logged() {
    let m = fixtures::members();
    let with_version = |v: u64| {
        format!("rookery_config_version {v}\nrookery_server_state{{state=\"following\"}} 1\n")
    };
    let mut e = ensemble::EnsembleState::new(&m);
    e.apply(&ensemble::PollRound {
        at_ms: fixtures::T0,
        members: vec![
            fixtures::serving(&m[0], "leader", 0x1_0000_0005, Some(&with_version(0))),
            fixtures::serving(&m[1], "follower", 0x1_0000_0005, Some(&with_version(0))),
            fixtures::serving(&m[2], "follower", 0x1_0000_0005, Some(&with_version(0))),
        ],
    });
    // A reconfig committed (version = its zxid); member 3 lost its quorum and,
    // still looking for a leader, serves read-only clients.
    let read_only =
        "rookery_config_version 4294967302\nrookery_server_state{state=\"looking\"} 1\n";
    e.apply(&ensemble::PollRound {
        at_ms: fixtures::T0 + 1000,
        members: vec![
            fixtures::serving(
                &m[0],
                "leader",
                0x1_0000_0006,
                Some(&with_version(0x1_0000_0006)),
            ),
            fixtures::serving(
                &m[1],
                "follower",
                0x1_0000_0006,
                Some(&with_version(0x1_0000_0006)),
            ),
            fixtures::serving(&m[2], "read-only", 0x1_0000_0006, Some(read_only)),
        ],
    });
    assert_eq!(e.members[2].role, Role::ReadOnly);
    assert!(e.members[2].is_marked());
    let kinds: Vec<String> = e.events.iter().map(|ev| ev.kind.to_string()).collect();
    assert!(
        kinds.contains(&format!(
            "read-only: {} lost its quorum, serves reads only",
            m[2]
        )),
        "{kinds:?}"
    );
    let changes = kinds
        .iter()
        .filter(|k| k.starts_with("membership changed: version 100000006"))
        .count();
    assert_eq!(changes, 1, "{kinds:?}");
}
