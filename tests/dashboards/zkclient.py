"""A small ZooKeeper wire-protocol client (Python stdlib only) for the dashboards check's workload.

It speaks just enough of jute to drive every metric the dashboards plot: sessions (create,
reconnect to another member with the same id and password, close, or drop so that the session
expires), create/create2, delete, exists, getData, setData, getChildren/getChildren2 with
watches, sync, multi, and pings. Requests are synchronous; watch notifications that arrive in
between are collected in `events`. A background thread pings while the client is idle.
"""
import socket
import struct
import threading
import time

# Opcodes (ZooDefs.OpCode).
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA = 1, 2, 3, 4, 5
GET_CHILDREN, SYNC, PING, GET_CHILDREN2, CHECK, MULTI, CREATE2 = 8, 9, 11, 12, 13, 14, 15
CLOSE_SESSION = -11

# Error codes (KeeperException.Code).
OK, NO_NODE, BAD_VERSION, NODE_EXISTS, NOT_EMPTY, SESSION_EXPIRED = 0, -101, -103, -110, -111, -112
CONNECTION_LOSS = -4

EPHEMERAL, SEQUENTIAL = 1, 2
OPEN_ACL_UNSAFE = [(31, "world", "anyone")]


class ZkError(Exception):
    def __init__(self, code, op, path):
        super().__init__(f"{op} {path}: error {code}")
        self.code = code


class SessionExpired(Exception):
    pass


def _int(v):
    return struct.pack(">i", v)


def _long(v):
    return struct.pack(">q", v)


def _bool(v):
    return b"\x01" if v else b"\x00"


def _buf(b):
    if b is None:
        return _int(-1)
    return _int(len(b)) + b


def _str(s):
    return _buf(s.encode())


def _acl(acl):
    out = _int(len(acl))
    for perms, scheme, ident in acl:
        out += _int(perms) + _str(scheme) + _str(ident)
    return out


class _Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def int(self):
        v = struct.unpack_from(">i", self.d, self.i)[0]
        self.i += 4
        return v

    def long(self):
        v = struct.unpack_from(">q", self.d, self.i)[0]
        self.i += 8
        return v

    def buf(self):
        n = self.int()
        if n < 0:
            return None
        v = self.d[self.i:self.i + n]
        self.i += n
        return v

    def str(self):
        b = self.buf()
        return None if b is None else b.decode()

    def stat(self):
        keys = ("czxid", "mzxid", "ctime", "mtime")
        st = {k: self.long() for k in keys}
        st["version"] = self.int()
        st["cversion"] = self.int()
        st["aversion"] = self.int()
        st["ephemeralOwner"] = self.long()
        st["dataLength"] = self.int()
        st["numChildren"] = self.int()
        st["pzxid"] = self.long()
        return st


class Client:
    """One session. `hosts` is a list of (host, port); it connects to the first that serves and,
    after a connection loss, moves the session to the next one."""

    def __init__(self, hosts, timeout_ms=10000, connect_deadline=30.0):
        self.hosts = list(hosts)
        self.timeout_ms = timeout_ms
        self.session_id = 0
        self.passwd = b"\x00" * 16
        self.last_zxid = 0
        self.sock = None
        self.xid = 0
        self.events = []
        self.lock = threading.RLock()
        self.host_index = 0
        self.closed = False
        self.reconnects = 0
        self._connect(connect_deadline)
        self._pinger = threading.Thread(target=self._ping_loop, daemon=True)
        self._pinger.start()

    # ------------------------------------------------------------------ transport
    def _send(self, payload):
        self.sock.sendall(_int(len(payload)) + payload)

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            d = self.sock.recv(n - len(out))
            if not d:
                raise ConnectionError("connection closed by the server")
            out += d
        return out

    def _recv_frame(self):
        n = struct.unpack(">i", self._recv_exact(4))[0]
        return self._recv_exact(n)

    def _connect(self, deadline_s):
        deadline = time.monotonic() + deadline_s
        last = None
        while time.monotonic() < deadline:
            host = self.hosts[self.host_index % len(self.hosts)]
            try:
                s = socket.create_connection(host, timeout=5)
                s.settimeout(10)
                self.sock = s
                req = (_int(0) + _long(self.last_zxid) + _int(self.timeout_ms)
                       + _long(self.session_id) + _buf(self.passwd) + _bool(False))
                self._send(req)
                r = _Reader(self._recv_frame())
                r.int()  # protocol version
                timeout = r.int()
                sid = r.long()
                passwd = r.buf()
                if timeout <= 0 or sid == 0:
                    s.close()
                    self.sock = None
                    if self.session_id:
                        raise SessionExpired(f"session 0x{self.session_id:x} expired")
                    raise ConnectionError("session refused")
                if self.session_id:
                    self.reconnects += 1
                self.session_id, self.passwd, self.timeout_ms = sid, passwd, timeout
                return
            except SessionExpired:
                raise
            except (OSError, ConnectionError, struct.error) as e:
                last = e
                if self.sock:
                    self.sock.close()
                    self.sock = None
                self.host_index += 1
                time.sleep(0.2)
        raise ConnectionError(f"no member accepted the session: {last}")

    def _ping_loop(self):
        while not self.closed:
            time.sleep(max(0.2, self.timeout_ms / 3000.0))
            if self.closed:
                return
            try:
                self._call(PING, b"", "ping", "", xid=-2)
            except Exception:  # noqa: BLE001 - the next request reconnects or reports
                pass

    def _call(self, op, body, opname, path, xid=None):
        with self.lock:
            if self.closed:
                raise ConnectionError("client closed")
            for attempt in range(2):
                if self.sock is None:
                    self._connect(30.0)
                if xid is None:
                    self.xid += 1
                    this = self.xid
                else:
                    this = xid
                try:
                    self._send(_int(this) + _int(op) + body)
                    while True:
                        r = _Reader(self._recv_frame())
                        rxid, zxid, err = r.int(), r.long(), r.int()
                        if rxid == -1:  # a watch notification
                            self.events.append((r.int(), r.int(), r.str()))
                            continue
                        if zxid > 0:
                            self.last_zxid = max(self.last_zxid, zxid)
                        if rxid != this:
                            continue
                        if err != OK:
                            raise ZkError(err, opname, path)
                        return r
                except (OSError, ConnectionError, struct.error):
                    if self.sock:
                        self.sock.close()
                    self.sock = None
                    self.host_index += 1
                    if op == PING or attempt == 1:
                        raise
                    # Retry once on the next member (the request may have been applied;
                    # callers tolerate NodeExists/NoNode on a retried write).
            raise ConnectionError("unreachable")

    def drain_events(self):
        """Reads pending notifications (a sync round trip flushes them)."""
        self.sync("/")
        ev, self.events = self.events, []
        return ev

    # ------------------------------------------------------------------ operations
    def create(self, path, data=b"", flags=0, with_stat=False):
        body = _str(path) + _buf(data) + _acl(OPEN_ACL_UNSAFE) + _int(flags)
        r = self._call(CREATE2 if with_stat else CREATE, body, "create", path)
        return r.str()

    def delete(self, path, version=-1):
        self._call(DELETE, _str(path) + _int(version), "delete", path)

    def exists(self, path, watch=False):
        try:
            return self._call(EXISTS, _str(path) + _bool(watch), "exists", path).stat()
        except ZkError as e:
            if e.code == NO_NODE:
                return None
            raise

    def get(self, path, watch=False):
        r = self._call(GET_DATA, _str(path) + _bool(watch), "get_data", path)
        return r.buf(), r.stat()

    def set(self, path, data, version=-1):
        return self._call(SET_DATA, _str(path) + _buf(data) + _int(version), "set_data", path).stat()

    def children(self, path, watch=False, with_stat=False):
        r = self._call(GET_CHILDREN2 if with_stat else GET_CHILDREN, _str(path) + _bool(watch),
                       "get_children", path)
        return [r.str() for _ in range(r.int())]

    def sync(self, path):
        return self._call(SYNC, _str(path), "sync", path).str()

    def multi_create_set(self, create_path, set_path, data):
        """A multi of a create and a setData."""
        body = (_int(CREATE) + _bool(False) + _int(-1)
                + _str(create_path) + _buf(data) + _acl(OPEN_ACL_UNSAFE) + _int(0)
                + _int(SET_DATA) + _bool(False) + _int(-1) + _str(set_path) + _buf(data) + _int(-1)
                + _int(-1) + _bool(True) + _int(-1))
        self._call(MULTI, body, "multi", create_path)

    def close(self):
        """Closes the session (a closeSession txn)."""
        try:
            self._call(CLOSE_SESSION, b"", "close_session", "")
        except Exception:  # noqa: BLE001
            pass
        self.abandon()

    def abandon(self):
        """Drops the connection without closing the session: the session expires later."""
        self.closed = True
        with self.lock:
            if self.sock:
                self.sock.close()
                self.sock = None
