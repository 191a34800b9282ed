//! Opcodes, error codes and the other numeric constants of the ZooKeeper protocol.

/// Request opcodes (`ZooDefs.OpCode`).
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;

    /// The short name ZooKeeper's `cons` shows as a connection's last op (`lop`).
    pub fn short_name(opcode: i32) -> &'static str {
        match opcode {
            PING => "PING",
            CREATE_SESSION => "SESS",
            CLOSE_SESSION => "CLOS",
            MULTI => "MULT",
            MULTI_READ => "MLTR",
            CREATE | CREATE2 | CREATE_CONTAINER | CREATE_TTL => "CREA",
            DELETE | DELETE_CONTAINER => "DELE",
            SET_DATA => "SETD",
            RECONFIG => "RECO",
            SET_ACL => "SETA",
            CHECK => "CHEC",
            SYNC => "SYNC",
            EXISTS => "EXIS",
            GET_DATA => "GETD",
            SET_WATCHES | SET_WATCHES2 => "SETW",
            ADD_WATCH => "ADDW",
            GET_ACL => "GETA",
            GET_CHILDREN | GET_CHILDREN2 => "GETC",
            GET_ALL_CHILDREN_NUMBER => "GETACN",
            CHECK_WATCHES => "CHKW",
            REMOVE_WATCHES => "REMW",
            GET_EPHEMERALS => "GETE",
            WHO_AM_I => "HOMI",
            AUTH => "AUTH",
            SASL => "SASL",
            _ => "NA",
        }
    }

    /// The op's name as ZooKeeper's `OpCode` spells it in snake case (metric labels, logs).
    pub fn name(opcode: i32) -> &'static str {
        match opcode {
            NOTIFICATION => "notification",
            CREATE => "create",
            DELETE => "delete",
            EXISTS => "exists",
            GET_DATA => "get_data",
            SET_DATA => "set_data",
            GET_ACL => "get_acl",
            SET_ACL => "set_acl",
            GET_CHILDREN => "get_children",
            SYNC => "sync",
            PING => "ping",
            GET_CHILDREN2 => "get_children2",
            CHECK => "check",
            MULTI => "multi",
            CREATE2 => "create2",
            RECONFIG => "reconfig",
            CHECK_WATCHES => "check_watches",
            REMOVE_WATCHES => "remove_watches",
            CREATE_CONTAINER => "create_container",
            DELETE_CONTAINER => "delete_container",
            CREATE_TTL => "create_ttl",
            MULTI_READ => "multi_read",
            AUTH => "auth",
            SET_WATCHES => "set_watches",
            SASL => "sasl",
            GET_EPHEMERALS => "get_ephemerals",
            GET_ALL_CHILDREN_NUMBER => "get_all_children_number",
            SET_WATCHES2 => "set_watches2",
            ADD_WATCH => "add_watch",
            WHO_AM_I => "who_am_i",
            CREATE_SESSION => "create_session",
            CLOSE_SESSION => "close_session",
            _ => "unknown",
        }
    }
}

/// Special xids.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
}

/// Error codes (`KeeperException.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    MarshallingError = -5,
    Unimplemented = -6,
    BadArguments = -8,
    UnknownSession = -12,
    NewConfigNoQuorum = -13,
    ReconfigInProgress = -14,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    EphemeralOnLocalSession = -120,
    NoWatcher = -121,
    ReconfigDisabled = -123,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code's name in snake case (`ok`, `no_node`, `bad_version`, ...) for metric labels.
    pub fn label(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Ok => "ok",
            SystemError => "system_error",
            RuntimeInconsistency => "runtime_inconsistency",
            DataInconsistency => "data_inconsistency",
            MarshallingError => "marshalling_error",
            Unimplemented => "unimplemented",
            BadArguments => "bad_arguments",
            UnknownSession => "unknown_session",
            NewConfigNoQuorum => "new_config_no_quorum",
            ReconfigInProgress => "reconfig_in_progress",
            ApiError => "api_error",
            NoNode => "no_node",
            NoAuth => "no_auth",
            BadVersion => "bad_version",
            NoChildrenForEphemerals => "no_children_for_ephemerals",
            NodeExists => "node_exists",
            NotEmpty => "not_empty",
            SessionExpired => "session_expired",
            InvalidAcl => "invalid_acl",
            AuthFailed => "auth_failed",
            SessionMoved => "session_moved",
            NotReadOnly => "not_read_only",
            EphemeralOnLocalSession => "ephemeral_on_local_session",
            NoWatcher => "no_watcher",
            ReconfigDisabled => "reconfig_disabled",
        }
    }

    /// The code for a number read back from the log; unknown numbers become SystemError.
    pub fn from_code(code: i32) -> ErrorCode {
        use ErrorCode::*;
        const ALL: [ErrorCode; 25] = [
            Ok,
            SystemError,
            RuntimeInconsistency,
            DataInconsistency,
            MarshallingError,
            Unimplemented,
            BadArguments,
            UnknownSession,
            NewConfigNoQuorum,
            ReconfigInProgress,
            ApiError,
            NoNode,
            NoAuth,
            BadVersion,
            NoChildrenForEphemerals,
            NodeExists,
            NotEmpty,
            SessionExpired,
            InvalidAcl,
            AuthFailed,
            SessionMoved,
            NotReadOnly,
            EphemeralOnLocalSession,
            NoWatcher,
            ReconfigDisabled,
        ];
        ALL.into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(SystemError)
    }
}

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// Watch event types (`Watcher.Event.EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// KeeperState SyncConnected: the only state a server puts in an event.
pub const STATE_SYNC_CONNECTED: i32 = 3;

/// Watcher types of checkWatches / removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    pub const PERSISTENT: i32 = 4;
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// addWatch modes.
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

/// The node kinds a create can make (`CreateMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        use CreateMode::*;
        Some(match flags {
            0 => Persistent,
            1 => Ephemeral,
            2 => PersistentSequential,
            3 => EphemeralSequential,
            4 => Container,
            5 => PersistentWithTtl,
            6 => PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// The largest TTL ZooKeeper accepts: 2^40 - 1 ms.
pub const MAX_TTL_MS: i64 = (1 << 40) - 1;

/// `ephemeralOwner` marker of a container node (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// `ephemeralOwner` of a TTL node: top byte 0xFF, the TTL in the low 56 bits.
pub fn ttl_owner(ttl_ms: i64) -> i64 {
    (0xFFi64 << 56) | (ttl_ms & 0x00FF_FFFF_FFFF_FFFF)
}

/// The TTL encoded in an `ephemeralOwner`, if it is a TTL marker.
pub fn ttl_of_owner(owner: i64) -> Option<i64> {
    if owner != CONTAINER_OWNER && (owner >> 56) & 0xFF == 0xFF {
        Some(owner & 0x00FF_FFFF_FFFF_FFFF)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_marker_round_trips_and_is_not_a_session() {
        let owner = ttl_owner(5000);
        assert_eq!(ttl_of_owner(owner), Some(5000));
        assert_eq!(ttl_of_owner(CONTAINER_OWNER), None);
        assert_eq!(ttl_of_owner(0x0100_0000_0000_0001), None);
    }

    #[test]
    fn error_codes_round_trip() {
        for c in [ErrorCode::NoNode, ErrorCode::BadVersion, ErrorCode::Ok] {
            assert_eq!(ErrorCode::from_code(c.code()), c);
        }
    }
}
