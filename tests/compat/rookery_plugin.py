"""pytest plugin: run kazoo's own test suite against Rookery members.

Load it with ``-p rookery_plugin`` (with this directory on PYTHONPATH).  It
swaps the cluster class that ``kazoo.testing.harness.get_global_cluster()``
instantiates for :class:`RookeryCluster`, whose members run
``$ROOKERY_BIN server --config <workdir>/zoo.cfg`` instead of
``java ... QuorumPeerMain zoo.cfg``.  Everything else in kazoo's harness
(``get_global_cluster``'s env handling and rebuild-on-env-change,
``KazooTestHarness.setup_zookeeper``'s health check, ``tearDownClass``'s
``cluster.terminate()``) runs unmodified.

What differs from kazoo's ``ManagedZooKeeper`` (``kazoo/testing/common.py``):

* The JVM ``-D`` system properties kazoo passes become zoo.cfg keys: the
  ``zookeeper.`` prefix is dropped (Java ZooKeeper maps an unknown zoo.cfg key
  ``K`` to the system property ``zookeeper.K``), other names are kept as is:
  ``DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=``,
  ``readonlymode.enabled=true`` and, when kazoo configures JAAS (test_sasl),
  ``java.security.auth.login.config=<workdir>/jaas.conf``.
* TLS material is written as PEM as well as JKS, and zoo.cfg points at the
  PEM files (``ssl.keyStore.type=PEM``; Java ZooKeeper 3.8 reads these too).
  The server and client certificates are issued as X.509 v3 (kazoo's are v1,
  which rustls refuses), by kazoo's CA, with kazoo's keys and subjects:
  ``<workdir>/server.pem`` (PKCS#8 key + certificate, CN=localhost) and
  ``<workdir>/ca.pem`` (the harness CA, also the client certificates' issuer).
* Every listener is bound to 127.0.0.1 (``clientPortAddress``,
  ``secureClientPortAddress``, ``admin.serverAddress``,
  ``metricsProvider.httpHost``, ``server.N=127.0.0.1:..``).
* The member's stdout+stderr go to ``<workdir>/zookeeper.log`` (appended
  across restarts), which is what ``get_logs()`` reads on test failures.
* ``cluster.start()`` waits until every member answers ``ruok`` with
  ``imok`` (at most ``ROOKERY_START_TIMEOUT`` s, default 30) instead of a
  fixed ``sleep(2)``; if a member exits during start-up, ``start()`` raises
  (the test errors at once, with the member's log tail) rather than letting
  kazoo's health check retry for over a minute.
* ``stop()`` is SIGTERM + wait like kazoo's, but escalates to SIGKILL after
  ``ROOKERY_STOP_TIMEOUT`` s (default 30) so a hung member cannot hang the run.
* Members die with the test process (PR_SET_PDEATHSIG), and any member still
  running at session end or interpreter exit is stopped.
* The zookeeper.log of a member that exited on its own, or did not stop
  cleanly on SIGTERM, is copied to ``ROOKERY_COMPAT_ARTIFACTS`` (default
  ``tests/compat/out/member-logs``) before its workdir is removed.

Environment: ``ROOKERY_BIN`` (default ``<repo>/target/debug/rookery``),
``ZOOKEEPER_CLUSTER_SIZE`` (default here: 1), ``ZOOKEEPER_PORT_OFFSET``
(default: the first free block from 31000 up), ``ZOOKEEPER_VERSION``
(default 3.8.4; kazoo's harness requires it to be set), plus the variables
kazoo's harness itself reads (ZOOKEEPER_JAAS_AUTH, ZOOKEEPER_LOCAL_SESSION_RO,
ZOOKEEPER_OBSERVER_START_ID).
"""

import atexit
import ctypes
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from itertools import chain

from cryptography.hazmat.primitives import serialization
import OpenSSL

import kazoo.testing.common as kz_common
import kazoo.testing.harness as kz_harness

log = logging.getLogger("rookery_plugin")

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_BIN = REPO / "target" / "debug" / "rookery"
ARTIFACTS = pathlib.Path(
    os.environ.get("ROOKERY_COMPAT_ARTIFACTS", HERE / "out" / "member-logs")
)
START_TIMEOUT = float(os.environ.get("ROOKERY_START_TIMEOUT", "30"))
STOP_TIMEOUT = float(os.environ.get("ROOKERY_STOP_TIMEOUT", "30"))
# Exit codes that count as a clean stop (Java ZooKeeper exits 143 on SIGTERM).
OK_EXIT_CODES = {
    int(c) for c in os.environ.get("ROOKERY_OK_EXIT_CODES", "0").split(",") if c
}
HOST = "127.0.0.1"

# Every member process ever started and not yet reaped, for the final sweep.
_LIVE = set()
_LIVE_LOCK = threading.Lock()
# Start/crash bookkeeping, printed at the end of the session.
STATS = {"starts": 0, "stops": 0, "unclean": []}

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - non-glibc platforms
    _libc = None


def rookery_bin():
    return os.environ.get("ROOKERY_BIN") or str(DEFAULT_BIN)


def _pdeathsig():
    # Runs in the child between fork and exec: kill the member if the
    # process that started it dies without cleaning up (e.g. SIGKILL).
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def four_letter_word(port, word, timeout=2.0):
    """Send a 4lw to 127.0.0.1:port; return the answer or None."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(word.encode("ascii"))
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None


def jvm_property_to_cfg(prop):
    """'-Dzookeeper.A.b=c' -> 'A.b=c'; '-Dx.y=z' -> 'x.y=z'."""
    if prop.startswith("-D"):
        prop = prop[2:]
    if prop.startswith("zookeeper."):
        prop = prop[len("zookeeper."):]
    return prop


class RookeryMember(object):
    """Drop-in for kazoo.testing.common.ManagedZooKeeper."""

    def __init__(
        self,
        server_info,
        peers=(),
        configuration_entries=(),
        java_system_properties=(),
        jaas_config=None,
        ssl_configuration=None,
    ):
        self.server_info = server_info
        self.host = HOST
        self.peers = peers
        self.working_path = tempfile.mkdtemp(
            prefix="rookery-m%s-" % server_info.server_id
        )
        self._running = False
        self.process = None
        self.configuration_entries = list(configuration_entries)
        self.java_system_properties = list(java_system_properties)
        self.jaas_config = jaas_config
        self.ssl_configuration = (
            ssl_configuration if ssl_configuration is not None else {}
        )

    # ------------------------------------------------------------ config
    def _path(self, *parts):
        return os.path.join(self.working_path, *parts)

    def _write_tls_material(self):
        ssl = self.ssl_configuration
        # JKS, as kazoo writes it (for a Java member / fidelity).
        ssl["truststore"].save(self._path("truststore.jks"), "apassword")
        ssl["keystore"].save(self._path("keystore.jks"), "apassword")
        # PEM: what zoo.cfg actually points at.
        key = ssl["server_key"].to_cryptography_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert = OpenSSL.crypto.dump_certificate(
            OpenSSL.crypto.FILETYPE_PEM, ssl["server_cert"]
        )
        with open(self._path("server.pem"), "wb") as f:
            f.write(key + cert)
        with open(self._path("ca.pem"), "wb") as f:
            f.write(ssl["ca_cert_pem"])

    def config_text(self):
        info = self.server_info
        lines = [
            "tickTime=2000",
            "dataDir=%s" % self._path("data"),
            "clientPort=%s" % info.client_port,
            "clientPortAddress=%s" % HOST,
            "secureClientPort=%s" % info.secure_client_port,
            "secureClientPortAddress=%s" % HOST,
            "maxClientCnxns=0",
            "admin.serverPort=%s" % info.admin_port,
            "admin.serverAddress=%s" % HOST,
            # The metrics endpoint, in the free slot of kazoo's 10-port block.
            "metricsProvider.httpHost=%s" % HOST,
            "metricsProvider.httpPort=%s" % (info.client_port + 5),
            # Java-only keys kazoo writes; Rookery warns and ignores them.
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
            "ssl.keyStore.location=%s" % self._path("server.pem"),
            "ssl.keyStore.type=PEM",
            "ssl.trustStore.location=%s" % self._path("ca.pem"),
            "ssl.trustStore.type=PEM",
        ]
        lines += self.configuration_entries
        # kazoo's JVM properties, as zoo.cfg keys.
        lines.append("readonlymode.enabled=true")
        lines += [jvm_property_to_cfg(p) for p in self.java_system_properties]
        if self.jaas_config:
            lines.append(
                "java.security.auth.login.config=%s" % self._path("jaas.conf")
            )
        # Replicated mode only when there are peers -- exactly like kazoo:
        # with ZOOKEEPER_CLUSTER_SIZE=1 there is no server.N line at all and
        # the member runs standalone.
        if self.peers:
            lines += ["initLimit=4", "syncLimit=2"]
            for p in chain((info,), self.peers):
                lines.append(
                    "server.%s=%s:%s:%s:%s"
                    % (p.server_id, HOST, p.leader_port, p.election_port,
                       p.peer_type)
                )
            lines.append("peerType=%s" % info.peer_type)
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ lifecycle
    def run(self):
        """Write zoo.cfg fresh and start the member on the existing data."""
        if self.running:
            return
        for d in (self.working_path, self._path("log"), self._path("data")):
            os.makedirs(d, exist_ok=True)
        self._write_tls_material()
        with open(self._path("zoo.cfg"), "w") as f:
            f.write(self.config_text())
        with open(self._path("data", "myid"), "w") as f:
            f.write(str(self.server_info.server_id))
        with open(self._path("jaas.conf"), "w") as f:
            f.write(self.jaas_config or "")

        binary = rookery_bin()
        args = [binary, "server", "--config", self._path("zoo.cfg")]
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        logf = open(self._path("zookeeper.log"), "ab")
        try:
            logf.write(
                ("==== rookery_plugin: starting %s at %s\n"
                 % (" ".join(args), time.strftime("%Y-%m-%d %H:%M:%S"))
                 ).encode()
            )
            logf.flush()
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so
            # only use it from the main thread.
            pre = (_pdeathsig if threading.current_thread()
                   is threading.main_thread() else None)
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.working_path,
                env=env,
                preexec_fn=pre,
            )
        except OSError as e:
            raise RuntimeError(
                "cannot start %s (set ROOKERY_BIN?): %s" % (binary, e)
            )
        finally:
            logf.close()
        with _LIVE_LOCK:
            _LIVE.add(self)
        STATS["starts"] += 1
        log.info(
            "Started rookery member %s (pid %s) on port %s, workdir %s",
            self.server_info.server_id, self.process.pid,
            self.server_info.client_port, self.working_path,
        )
        self._running = True

    def wait_serving(self, deadline):
        """Wait until `ruok` answers `imok`; False on timeout or exit."""
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                log.error(
                    "rookery member %s exited during start-up (code %s); "
                    "log tail:\n%s", self.server_info.server_id,
                    self.process.returncode if self.process else None,
                    "".join(self.get_logs(30)),
                )
                return False
            if four_letter_word(self.client_port, "ruok", 1.0) == "imok":
                return True
            time.sleep(0.1)
        log.error("rookery member %s does not answer ruok=imok after %ss",
                  self.server_info.server_id, START_TIMEOUT)
        return False

    def stop(self):
        """SIGTERM + wait, keeping on-disk state (as kazoo's stop())."""
        if not self.running:
            return
        proc = self.process
        crashed = proc.poll() is not None
        if crashed:
            log.error(
                "rookery member %s (pid %s) had already exited with code %s "
                "before stop()", self.server_info.server_id, proc.pid,
                proc.returncode,
            )
        else:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.error(
                    "rookery member %s (pid %s) ignored SIGTERM for %ss; "
                    "killing it", self.server_info.server_id, proc.pid,
                    STOP_TIMEOUT,
                )
                proc.kill()
                proc.wait()
        STATS["stops"] += 1
        if crashed or proc.returncode not in OK_EXIT_CODES:
            log.warning(
                "rookery member %s (pid %s) terminated with return code %s",
                self.server_info.server_id, proc.pid, proc.returncode,
            )
            self._save_log(
                "crashed" if crashed else "exit%s" % proc.returncode
            )
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._running = False

    def destroy(self):
        """Stop the member and remove its workdir (as kazoo's destroy())."""
        self.stop()
        shutil.rmtree(self.working_path, True)

    def reset(self):
        self.stop()
        shutil.rmtree(self._path("data"), True)
        os.makedirs(self._path("data"))
        with open(self._path("data", "myid"), "w") as fh:
            fh.write(str(self.server_info.server_id))

    def _save_log(self, why):
        src = self._path("zookeeper.log")
        if not os.path.exists(src):
            return
        try:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            dst = ARTIFACTS / ("%s-member%s-pid%s-%s.log" % (
                time.strftime("%H%M%S"), self.server_info.server_id,
                self.process.pid, why))
            shutil.copyfile(src, dst)
            STATS["unclean"].append(str(dst))
        except OSError:
            log.exception("cannot save member log")

    # ------------------------------------------------------------ accessors
    @property
    def address(self):
        return "%s:%s" % (self.host, self.client_port)

    @property
    def secure_address(self):
        return "%s:%s" % (self.host, self.secure_client_port)

    @property
    def running(self):
        return self._running

    @property
    def client_port(self):
        return self.server_info.client_port

    @property
    def secure_client_port(self):
        return self.server_info.secure_client_port

    def get_logs(self, num_lines=100):
        log_path = pathlib.Path(self.working_path, "zookeeper.log")
        if log_path.exists():
            with log_path.open("r", errors="replace") as f:
                return f.readlines()[-num_lines:]
        return []


class RookeryCluster(kz_common.ZookeeperCluster):
    """Drop-in for kazoo.testing.common.ZookeeperCluster (same signature)."""

    def __init__(
        self,
        install_path=None,
        classpath=None,
        size=3,
        port_offset=20000,
        observer_start_id=-1,
        configuration_entries=(),
        java_system_properties=(),
        jaas_config=None,
    ):
        self._servers = []
        self._ssl_configuration = {}
        self.perform_ssl_certs_generation()

        port = port_offset
        peers = []
        for i in range(size):
            server_id = i + 1
            if observer_start_id != -1 and server_id >= observer_start_id:
                peer_type = "observer"
            else:
                peer_type = "participant"
            # client, secure client, election, leader(quorum), admin ports:
            # the same layout as kazoo's ZookeeperCluster.
            peers.append(kz_common.ServerInfo(
                server_id, port, port + 4, port + 1, port + 2, port + 3,
                peer_type,
            ))
            port += 10

        for i in range(size):
            server_peers = list(peers)
            server_info = server_peers.pop(i)
            self._servers.append(RookeryMember(
                server_info,
                server_peers,
                configuration_entries=configuration_entries,
                java_system_properties=java_system_properties,
                jaas_config=jaas_config,
                ssl_configuration=dict(self._ssl_configuration),
            ))

    def perform_ssl_certs_generation(self):
        """kazoo's CA, keys and stores, with the server and client certificates
        issued again as X.509 v3: kazoo makes them v1, which Java accepts and
        rustls (webpki) refuses. Same CA, keys, subjects and validity."""
        if self._ssl_configuration:
            return
        super().perform_ssl_certs_generation()
        ssl = self._ssl_configuration
        for name, serial, extensions in [
            ("server", 2, [OpenSSL.crypto.X509Extension(
                b"subjectAltName", False, b"DNS:localhost, IP:127.0.0.1")]),
            ("client", 3, []),
        ]:
            old = ssl[name + "_cert"]
            cert = OpenSSL.crypto.X509()
            cert.set_version(2)
            cert.set_subject(old.get_subject())
            cert.set_serial_number(serial)
            cert.gmtime_adj_notBefore(0)
            cert.gmtime_adj_notAfter(24 * 60 * 60)
            cert.set_issuer(ssl["ca_cert"].get_subject())
            cert.set_pubkey(ssl[name + "_key"])
            if extensions:
                cert.add_extensions(extensions)
            cert.sign(ssl["ca_key"], "sha256")
            ssl[name + "_cert"] = cert
        ssl["client_cert_pem"] = OpenSSL.crypto.dump_certificate(
            OpenSSL.crypto.FILETYPE_PEM, ssl["client_cert"]
        )

    def start(self):
        # Reverse order, as kazoo does; then wait for every member to
        # answer ruok=imok rather than kazoo's fixed sleep(2).
        for server in reversed(list(self)):
            server.run()
        deadline = time.monotonic() + START_TIMEOUT
        for server in self:
            if not server.wait_serving(deadline):
                break
        # A member that exited during start-up fails the calling test at
        # once (instead of kazoo's 5 health-check tries of 15 s each); it is
        # marked stopped, so the next test's setup starts it again.
        dead = [s for s in self if s.running and s.process.poll() is not None]
        if dead:
            tails = []
            for s in dead:
                tails.append("member %s exited with code %s:\n%s" % (
                    s.server_info.server_id, s.process.returncode,
                    "".join(s.get_logs(20))))
                s.stop()
            raise RuntimeError(
                "rookery member(s) exited during start-up\n" + "\n".join(tails)
            )


# ---------------------------------------------------------------- helpers
def _ports_free(offset, size):
    for member in range(size):
        for k in range(5):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # Like a server: ignore TIME_WAIT left by a previous run.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, offset + 10 * member + k))
            except OSError:
                return False
            finally:
                s.close()
    return True


def pick_port_offset(size, start=31000, stop=60000, step=100):
    for offset in range(start, stop, step):
        if _ports_free(offset, size):
            return offset
    raise RuntimeError("no free block of ports for the test cluster")


def stop_all_members():
    with _LIVE_LOCK:
        members = list(_LIVE)
    for m in members:
        try:
            m.stop()
        except Exception:
            log.exception("stopping member %s", m.server_info.server_id)
            try:
                m.process.kill()
            except Exception:
                pass


def _on_sigterm(signum, frame):
    # Turn SIGTERM (e.g. from `timeout`) into an interrupt: pytest then ends
    # the session normally (summary, sessionfinish) and the members stop.
    raise KeyboardInterrupt("SIGTERM")


# ---------------------------------------------------------------- install
def install():
    os.environ.setdefault("ZOOKEEPER_CLUSTER_SIZE", "1")
    os.environ.setdefault("ZOOKEEPER_VERSION", "3.8.4")
    if not os.environ.get("ZOOKEEPER_PORT_OFFSET"):
        size = int(os.environ["ZOOKEEPER_CLUSTER_SIZE"])
        os.environ["ZOOKEEPER_PORT_OFFSET"] = str(pick_port_offset(size))
    kz_harness.ZookeeperCluster = RookeryCluster
    kz_common.ZookeeperCluster = RookeryCluster
    kz_common.ManagedZooKeeper = RookeryMember
    atexit.register(stop_all_members)


def pytest_configure(config):
    install()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    config._rookery_bin = rookery_bin()


def pytest_report_header(config):
    return [
        "rookery: ROOKERY_BIN=%s cluster size %s, ports from %s, "
        "ZOOKEEPER_VERSION=%s" % (
            rookery_bin(), os.environ["ZOOKEEPER_CLUSTER_SIZE"],
            os.environ["ZOOKEEPER_PORT_OFFSET"],
            os.environ["ZOOKEEPER_VERSION"],
        )
    ]


# Per-test outcome for the expected-failures checker: a test failed if its
# setup, call or teardown failed.
RESULTS = {}


def pytest_runtest_logreport(report):
    prev = RESULTS.get(report.nodeid)
    if report.failed:
        RESULTS[report.nodeid] = "failed"
    elif report.skipped and prev != "failed":
        RESULTS[report.nodeid] = "skipped"
    elif report.when == "call" and prev is None:
        RESULTS[report.nodeid] = "passed"


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("ROOKERY_COMPAT_RESULTS")
    if out:
        import json
        with open(out, "w") as f:
            json.dump({"exitstatus": int(exitstatus), "tests": RESULTS}, f,
                      indent=0, sort_keys=True)
    cluster = kz_harness.CLUSTER
    if cluster is not None:
        try:
            cluster.terminate()
        except Exception:
            log.exception("terminating the cluster")
    stop_all_members()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr = terminalreporter
    tr.write_sep("-", "rookery members")
    tr.write_line("member starts: %d, stops: %d, unclean exits: %d" % (
        STATS["starts"], STATS["stops"], len(STATS["unclean"])))
    for p in STATS["unclean"]:
        tr.write_line("  log kept: %s" % p)
