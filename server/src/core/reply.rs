//! Encoding of replies and notifications: the header, then the body only on success.

use crate::proto::{op, xid, Acl, ErrorCode, EventType, Stat, Writer, STATE_SYNC_CONNECTED};
use crate::tree::OpResult;

/// A reply frame with no body (errors, delete, ping, auth, setWatches...).
pub fn header_only(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
    let mut w = Writer::framed();
    w.write_i32(xid);
    w.write_i64(zxid);
    w.write_i32(err.code());
    w.finish_frame()
}

/// A successful reply: header with err 0, then whatever `body` writes.
pub fn ok_with(xid: i32, zxid: i64, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::framed();
    w.write_i32(xid);
    w.write_i64(zxid);
    w.write_i32(0);
    body(&mut w);
    w.finish_frame()
}

/// A watch notification (xid -1). ZooKeeper 3.8 puts -1 in the zxid field.
pub fn notification(event: EventType, path: &str) -> Vec<u8> {
    let mut w = Writer::framed();
    w.write_i32(xid::NOTIFICATION);
    w.write_i64(-1);
    w.write_i32(0);
    w.write_i32(event as i32);
    w.write_i32(STATE_SYNC_CONNECTED);
    w.write_string(path);
    w.finish_frame()
}

pub fn write_acl_and_stat(w: &mut Writer, acl: &[Acl], stat: &Stat) {
    Acl::write_list(w, acl);
    stat.write(w);
}

fn write_multi_header(w: &mut Writer, op_type: i32, done: bool, err: i32) {
    w.write_i32(op_type);
    w.write_bool(done);
    w.write_i32(err);
}

fn write_multi_error(w: &mut Writer, code: ErrorCode) {
    write_multi_header(w, op::ERROR, false, code.code());
    w.write_i32(code.code());
}

/// The reply to a committed write, shaped by the opcode(s) the client sent.
pub fn write_result(xid: i32, zxid: i64, opcodes: &[i32], result: &OpResult) -> Vec<u8> {
    match result {
        OpResult::Error(code) => header_only(xid, zxid, *code),
        OpResult::Multi(results) => ok_with(xid, zxid, |w| {
            for (i, r) in results.iter().enumerate() {
                let opcode = opcodes.get(i).copied().unwrap_or(op::ERROR);
                write_multi_entry(w, opcode, r);
            }
            write_multi_header(w, -1, true, -1);
        }),
        single => ok_with(xid, zxid, |w| {
            write_single_body(w, opcodes.first().copied().unwrap_or(op::ERROR), single)
        }),
    }
}

fn write_single_body(w: &mut Writer, opcode: i32, result: &OpResult) {
    match result {
        OpResult::Created { path, stat } => {
            w.write_string(path);
            if opcode != op::CREATE {
                stat.write(w);
            }
        }
        OpResult::Stat(stat) => stat.write(w),
        OpResult::Config { data, stat } => {
            w.write_buffer(Some(data));
            stat.write(w);
        }
        _ => {}
    }
}

fn write_multi_entry(w: &mut Writer, opcode: i32, result: &OpResult) {
    match result {
        OpResult::Error(code) => write_multi_error(w, *code),
        OpResult::Created { path, stat } => {
            if opcode == op::CREATE {
                write_multi_header(w, op::CREATE, false, 0);
                w.write_string(path);
            } else {
                write_multi_header(w, op::CREATE2, false, 0);
                w.write_string(path);
                stat.write(w);
            }
        }
        OpResult::Deleted => write_multi_header(w, op::DELETE, false, 0),
        OpResult::Stat(stat) => {
            write_multi_header(w, op::SET_DATA, false, 0);
            stat.write(w);
        }
        OpResult::Checked => write_multi_header(w, op::CHECK, false, 0),
        _ => write_multi_error(w, ErrorCode::SystemError),
    }
}

/// One result of a multiRead.
pub enum ReadResult {
    Data(Option<Vec<u8>>, Stat),
    Children(Vec<String>),
    Error(ErrorCode),
}

pub fn multi_read(xid: i32, zxid: i64, results: &[ReadResult]) -> Vec<u8> {
    ok_with(xid, zxid, |w| {
        for r in results {
            match r {
                ReadResult::Data(data, stat) => {
                    write_multi_header(w, op::GET_DATA, false, 0);
                    w.write_buffer(data.as_deref());
                    stat.write(w);
                }
                ReadResult::Children(children) => {
                    write_multi_header(w, op::GET_CHILDREN, false, 0);
                    w.write_string_vec(children);
                }
                ReadResult::Error(code) => write_multi_error(w, *code),
            }
        }
        write_multi_header(w, -1, true, -1);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Reader;

    #[test]
    fn failed_multi_is_header_ok_with_per_op_errors() {
        let frame = write_result(
            7,
            9,
            &[op::CREATE, op::DELETE],
            &OpResult::Multi(vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::NoNode),
            ]),
        );
        let mut r = Reader::new(&frame[4..]);
        assert_eq!(r.read_i32().unwrap(), 7);
        assert_eq!(r.read_i64().unwrap(), 9);
        assert_eq!(r.read_i32().unwrap(), 0);
        for code in [0, -101] {
            assert_eq!(r.read_i32().unwrap(), -1);
            assert!(!r.read_bool().unwrap());
            assert_eq!(r.read_i32().unwrap(), code);
            assert_eq!(r.read_i32().unwrap(), code);
        }
        assert_eq!(r.read_i32().unwrap(), -1);
        assert!(r.read_bool().unwrap());
        assert_eq!(r.read_i32().unwrap(), -1);
        assert!(r.is_empty());
    }

    #[test]
    fn create_reply_shape_follows_the_opcode() {
        let result = OpResult::Created {
            path: "/a".into(),
            stat: Stat::default(),
        };
        let plain = write_result(1, 1, &[op::CREATE], &result);
        let with_stat = write_result(1, 1, &[op::CREATE2], &result);
        assert_eq!(plain.len(), 4 + 16 + 4 + 2);
        assert_eq!(with_stat.len(), plain.len() + 68);
    }
}
