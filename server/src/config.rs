//! zoo.cfg and myid, read as ZooKeeper reads them. A bad value stops start-up
//! with the file, the line and the reason; an unknown key is only a warning.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}:{line}: {reason}")]
    Line {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
}

/// One `server.N=host:quorumPort:electionPort[:role][;clientHost:clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    pub client: Option<String>,
}

/// Everything Rookery reads from zoo.cfg.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub tick_time_ms: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    pub data_log_dir: Option<PathBuf>,
    pub client_port: Option<u16>,
    pub client_port_address: Option<String>,
    /// TLS client port (`secureClientPort`), beside or instead of `clientPort`.
    pub secure_client_port: Option<u16>,
    pub secure_client_port_address: Option<String>,
    /// PEM: the member's private key and certificate chain (`ssl.keyStore.location`).
    pub ssl_key_store: Option<PathBuf>,
    /// PEM: the CAs client certificates must chain to (`ssl.trustStore.location`).
    pub ssl_trust_store: Option<PathBuf>,
    /// `ssl.clientAuth`: need (ZooKeeper's default), want or none.
    pub ssl_client_auth: String,
    pub max_client_cnxns: u32,
    /// Threads serving connections (`rookery.workerThreads`); unset: one per
    /// two cores, at least one (see `worker_threads()`).
    pub worker_threads: Option<usize>,
    /// How long a client connection that comes while no leader is
    /// established waits for one before it is closed
    /// (`rookery.electionHoldMs`; 0 closes it at once, as ZooKeeper does).
    pub election_hold_ms: u64,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub servers: Vec<ServerSpec>,
    pub four_letter_whitelist: Vec<String>,
    pub admin_enable_server: bool,
    /// Where the admin server listens: loopback unless zoo.cfg says otherwise
    /// (ZooKeeper's default is every address; Rookery's is the safe one).
    pub admin_server_address: String,
    /// `admin.needClientAuth`: the admin commands that change state (`srst`,
    /// `crst`) want an `Authorization: digest user:password` header naming the
    /// super user (`superDigest`).
    pub admin_need_client_auth: bool,
    /// `skipACL=yes` (or `zookeeper.skipACL`): no ACL is checked at all. Off
    /// unless asked for; a warning at start-up when on.
    pub skip_acl: bool,
    /// `X509AuthenticationProvider.superUser`: a client certificate subject
    /// (RFC 2253) that is the super user.
    pub x509_super_user: Option<String>,
    /// `sslQuorum=true`: the links between members are mutual TLS with
    /// `ssl.quorum.keyStore.location` and `ssl.quorum.trustStore.location`.
    pub ssl_quorum: bool,
    pub ssl_quorum_key_store: Option<PathBuf>,
    pub ssl_quorum_trust_store: Option<PathBuf>,
    pub admin_server_port: u16,
    pub metrics_provider_class: Option<String>,
    pub metrics_http_host: String,
    /// `/metrics` port; `None` when `metricsProvider.httpPort=-1` turns it off.
    pub metrics_http_port: Option<u16>,
    /// The HTTP ports were set in zoo.cfg (then failing to bind them stops
    /// start-up; a default port that is taken is only warned about).
    pub metrics_port_explicit: bool,
    pub admin_port_explicit: bool,
    /// Requests slower than this are logged and counted (`slowRequestThresholdMs`).
    pub slow_request_threshold_ms: u64,
    /// Log fsyncs slower than this are logged and counted (`fsync.warningthresholdms`).
    pub fsync_warning_threshold_ms: u64,
    pub jute_max_buffer: usize,
    pub super_digest: Option<String>,
    pub extended_types_enabled: bool,
    pub autopurge_snap_retain_count: u32,
    pub autopurge_purge_interval_hours: u32,
    pub reconfig_enabled: bool,
    pub read_only_mode_enabled: bool,
    /// The JAAS file whose `Server` section lists the SASL DIGEST-MD5 users
    /// (`jaasLoginConfig`, or ZooKeeper's JVM property
    /// `java.security.auth.login.config` written as a zoo.cfg key).
    pub jaas_login_config: Option<PathBuf>,
    /// Those users and their passwords (read at start-up).
    pub sasl_users: BTreeMap<String, String>,
    /// Sessions kept by the member they connected to, with no Txn, until they
    /// need to be global (`localSessionsEnabled`).
    pub local_sessions_enabled: bool,
    /// An ephemeral create upgrades a local session to a global one
    /// (`localSessionsUpgradingEnabled`); without it the create fails (-120).
    pub local_sessions_upgrading_enabled: bool,
    pub container_check_interval_ms: u64,
    /// Committed entries kept in memory for DIFF (`commitLogCount`); a learner
    /// further behind gets SNAP.
    pub commit_log_count: usize,
    /// Bytes of committed entries kept in memory for DIFF at most
    /// (`commitLogBytes`, Rookery's own): with big writes the entry count alone
    /// would let the window hold gigabytes.
    pub commit_log_bytes: usize,
    /// Sync every learner by SNAP, never DIFF or TRUNC (ZooKeeper's
    /// `zookeeper.forceSnapshotSync`, meant for testing the SNAP path).
    pub force_snapshot_sync: bool,
    pub my_id: Option<u64>,
    /// Keys given in the file, as written (for `conf`).
    pub raw: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Keys ZooKeeper accepts that Rookery has no use for (JVM, Netty, TLS keystores,
/// SASL providers): read without a warning.
const JAVA_ONLY_KEYS: &[&str] = &[
    "serverCnxnFactory",
    "standaloneEnabled",
    "peerType",
    "dynamicConfigFile",
    "snapCount",
    "preAllocSize",
    "globalOutstandingLimit",
    "syncEnabled",
    "quorumListenOnAllIPs",
    "electionAlg",
    "forceSync",
    "admin.commandURL",
    "admin.idleTimeout",
    "portUnification",
];

impl Config {
    /// Threads the member serves connections on. One request touches a reader
    /// task, the core task and a writer task: on one thread that is three queue
    /// pushes, across threads it is wake-ups and context switches, which cost
    /// more than the work on the small machines a member often shares (measured:
    /// +15 % gets and sets with 3 members on 2 cores). So: one thread per two
    /// cores, unless `rookery.workerThreads` says otherwise.
    pub fn worker_threads(&self) -> usize {
        self.worker_threads.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / 2).max(1)
        })
    }

    /// Defaults of a zoo.cfg that sets nothing but dataDir.
    fn defaults(file: &Path) -> Config {
        Config {
            file: file.to_path_buf(),
            tick_time_ms: 3000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::new(),
            data_log_dir: None,
            client_port: None,
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            ssl_key_store: None,
            ssl_trust_store: None,
            ssl_client_auth: "need".to_string(),
            max_client_cnxns: 60,
            worker_threads: None,
            election_hold_ms: 1000,
            min_session_timeout_ms: 0,
            max_session_timeout_ms: 0,
            servers: Vec::new(),
            four_letter_whitelist: vec!["srvr".to_string()],
            admin_enable_server: true,
            admin_server_address: "127.0.0.1".to_string(),
            admin_need_client_auth: false,
            skip_acl: false,
            x509_super_user: None,
            ssl_quorum: false,
            ssl_quorum_key_store: None,
            ssl_quorum_trust_store: None,
            admin_server_port: 8080,
            metrics_provider_class: None,
            metrics_http_host: "127.0.0.1".to_string(),
            metrics_http_port: Some(7000),
            metrics_port_explicit: false,
            admin_port_explicit: false,
            slow_request_threshold_ms: 1000,
            fsync_warning_threshold_ms: 1000,
            jute_max_buffer: 0xfffff,
            super_digest: None,
            extended_types_enabled: false,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 0,
            reconfig_enabled: false,
            read_only_mode_enabled: false,
            jaas_login_config: None,
            sasl_users: BTreeMap::new(),
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            container_check_interval_ms: 60_000,
            commit_log_count: 20_000,
            force_snapshot_sync: false,
            commit_log_bytes: 256 * 1024 * 1024,
            my_id: None,
            raw: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Reads zoo.cfg and then `dataDir/myid`.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::File {
            file: file.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        let mut cfg = Config::parse(file, &text)?;
        cfg.read_dynamic_config()?;
        cfg.read_jaas()?;
        cfg.read_my_id()?;
        Ok(cfg)
    }

    /// The SASL users from the JAAS file, if one is named. An empty file (what
    /// kazoo's harness writes when it wants no SASL) means no users.
    fn read_jaas(&mut self) -> Result<(), ConfigError> {
        let Some(path) = &self.jaas_login_config else {
            return Ok(());
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            file: file.clone(),
            reason: format!("cannot read the JAAS file: {e}"),
        })?;
        if text.trim().is_empty() {
            return Ok(());
        }
        self.sasl_users = crate::sasl::jaas_server_users(&text)
            .map_err(|reason| ConfigError::File { file, reason })?;
        Ok(())
    }

    /// `dynamicConfigFile=path`: the `server.N` lines live there (ZooKeeper 3.5+,
    /// and what a reconfig writes). They replace any in zoo.cfg itself.
    fn read_dynamic_config(&mut self) -> Result<(), ConfigError> {
        let Some(name) = self.raw.get("dynamicConfigFile") else {
            return Ok(());
        };
        let mut path = PathBuf::from(name);
        if path.is_relative() && !path.exists() {
            if let Some(dir) = self.file.parent() {
                path = dir.join(name);
            }
        }
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
            file: file.clone(),
            reason: format!("cannot read the dynamic config file: {e}"),
        })?;
        let mut servers: Vec<ServerSpec> = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| ConfigError::Line {
                file: file.clone(),
                line: idx + 1,
                reason,
            };
            let Some((key, value)) = line.split_once('=') else {
                return Err(err(format!("expected key=value, found {line:?}")));
            };
            let key = key.trim();
            if key == "version" || key.starts_with("group.") || key.starts_with("weight.") {
                continue;
            }
            if !key.starts_with("server.") {
                return Err(err(format!(
                    "only server.N lines belong here, found {key:?}"
                )));
            }
            let spec = parse_server(key, value.trim()).map_err(err)?;
            if servers.iter().any(|s| s.id == spec.id) {
                return Err(err(format!("{key} given twice")));
            }
            servers.push(spec);
        }
        if !self.servers.is_empty() {
            self.warnings.push(format!(
                "{}: server lines ignored: dynamicConfigFile {file} lists the members",
                self.file.display()
            ));
        }
        self.servers = servers;
        Ok(())
    }

    /// Parses zoo.cfg text (Java properties: `key=value`, `#` and `!` comments).
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults(file);
        let mut min_set = false;
        let mut max_set = false;
        let mut have_data_dir = false;
        let mut admin_port_line = 0usize;
        for (idx, raw_line) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw_line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let err = |reason: String| ConfigError::Line {
                file: file.display().to_string(),
                line: line_no,
                reason,
            };
            let Some((key, value)) = line.split_once(['=', ':']) else {
                return Err(err(format!("expected key=value, found {line:?}")));
            };
            let key = key.trim();
            let value = value.trim();
            cfg.raw.insert(key.to_string(), value.to_string());
            let num = |what: &str| -> Result<u64, ConfigError> {
                value
                    .parse::<u64>()
                    .map_err(|_| err(format!("{key}: {what} expected, found {value:?}")))
            };
            let boolean = || -> Result<bool, ConfigError> {
                match value.to_ascii_lowercase().as_str() {
                    "true" | "yes" => Ok(true),
                    "false" | "no" => Ok(false),
                    _ => Err(err(format!(
                        "{key}: true or false expected, found {value:?}"
                    ))),
                }
            };
            let port = || -> Result<u16, ConfigError> {
                value
                    .parse::<u16>()
                    .map_err(|_| err(format!("{key}: a port (0-65535) expected, found {value:?}")))
            };
            match key {
                "tickTime" => {
                    let v = num("a number of milliseconds")?;
                    if v == 0 || v > u32::MAX as u64 {
                        return Err(err(format!("tickTime must be positive, found {value}")));
                    }
                    cfg.tick_time_ms = v as u32;
                }
                "initLimit" => cfg.init_limit = num("a number of ticks")? as u32,
                "syncLimit" => cfg.sync_limit = num("a number of ticks")? as u32,
                "dataDir" => {
                    if value.is_empty() {
                        return Err(err("dataDir is empty".into()));
                    }
                    cfg.data_dir = PathBuf::from(value);
                    have_data_dir = true;
                }
                "dataLogDir" => cfg.data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => cfg.client_port = Some(port()?),
                "clientPortAddress" => cfg.client_port_address = Some(value.to_string()),
                "secureClientPort" => cfg.secure_client_port = Some(port()?),
                "secureClientPortAddress" => {
                    cfg.secure_client_port_address = Some(value.to_string())
                }
                "ssl.keyStore.location" => cfg.ssl_key_store = Some(PathBuf::from(value)),
                "sslQuorum" => cfg.ssl_quorum = boolean()?,
                "ssl.quorum.keyStore.location" => {
                    cfg.ssl_quorum_key_store = Some(PathBuf::from(value))
                }
                "ssl.quorum.trustStore.location" => {
                    cfg.ssl_quorum_trust_store = Some(PathBuf::from(value))
                }
                "ssl.trustStore.location" => cfg.ssl_trust_store = Some(PathBuf::from(value)),
                "ssl.clientAuth" => match value.to_ascii_lowercase().as_str() {
                    v @ ("need" | "want" | "none") => cfg.ssl_client_auth = v.to_string(),
                    _ => {
                        return Err(err(format!(
                            "ssl.clientAuth: need, want or none expected, found {value:?}"
                        )))
                    }
                },
                "maxClientCnxns" => cfg.max_client_cnxns = num("a count")? as u32,
                "rookery.electionHoldMs" => cfg.election_hold_ms = num("milliseconds")?,
                "rookery.workerThreads" => {
                    cfg.worker_threads = Some((num("a number of threads")? as usize).max(1))
                }
                "minSessionTimeout" => {
                    cfg.min_session_timeout_ms = num("milliseconds")? as u32;
                    min_set = true;
                }
                "maxSessionTimeout" => {
                    cfg.max_session_timeout_ms = num("milliseconds")? as u32;
                    max_set = true;
                }
                "4lw.commands.whitelist" => {
                    cfg.four_letter_whitelist = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "admin.enableServer" => cfg.admin_enable_server = boolean()?,
                "admin.serverAddress" => cfg.admin_server_address = value.to_string(),
                "admin.needClientAuth" => cfg.admin_need_client_auth = boolean()?,
                "X509AuthenticationProvider.superUser"
                | "zookeeper.X509AuthenticationProvider.superUser" => {
                    cfg.x509_super_user = Some(value.to_string())
                }
                "skipACL" | "zookeeper.skipACL" => {
                    cfg.skip_acl = boolean()?;
                    if cfg.skip_acl {
                        cfg.warnings.push(format!(
                            "{}:{line_no}: skipACL is on: every client may read and change every node",
                            file.display()
                        ));
                    }
                }
                "admin.serverPort" => {
                    cfg.admin_server_port = port()?;
                    cfg.admin_port_explicit = true;
                    admin_port_line = line_no;
                }
                "metricsProvider.className" => cfg.metrics_provider_class = Some(value.to_string()),
                "metricsProvider.httpHost" => cfg.metrics_http_host = value.to_string(),
                "metricsProvider.httpPort" => {
                    cfg.metrics_http_port = if value == "-1" { None } else { Some(port()?) };
                    cfg.metrics_port_explicit = true;
                }
                "slowRequestThresholdMs" | "rookery.slowRequestThresholdMs" => {
                    cfg.slow_request_threshold_ms = num("milliseconds")?
                }
                "fsync.warningthresholdms" | "zookeeper.fsync.warningthresholdms" => {
                    cfg.fsync_warning_threshold_ms = num("milliseconds")?
                }
                "jute.maxbuffer" => {
                    let v = num("a number of bytes")?;
                    if v == 0 || v > i32::MAX as u64 {
                        return Err(err(format!("jute.maxbuffer out of range: {value}")));
                    }
                    cfg.jute_max_buffer = v as usize;
                }
                "DigestAuthenticationProvider.superDigest"
                | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    if value.split(':').count() != 2 {
                        return Err(err(format!(
                            "{key}: expected user:base64digest, found {value:?}"
                        )));
                    }
                    cfg.super_digest = Some(value.to_string());
                }
                "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                    cfg.extended_types_enabled = boolean()?
                }
                "autopurge.snapRetainCount" => {
                    cfg.autopurge_snap_retain_count = num("a count")? as u32
                }
                "autopurge.purgeInterval" => {
                    cfg.autopurge_purge_interval_hours = num("hours")? as u32
                }
                "reconfigEnabled" => cfg.reconfig_enabled = boolean()?,
                "readonlymode.enabled" | "zookeeper.readonlymode.enabled" => {
                    cfg.read_only_mode_enabled = boolean()?
                }
                "localSessionsEnabled" => cfg.local_sessions_enabled = boolean()?,
                "jaasLoginConfig" | "java.security.auth.login.config" => {
                    cfg.jaas_login_config = (!value.is_empty()).then(|| PathBuf::from(value))
                }
                "localSessionsUpgradingEnabled" => {
                    cfg.local_sessions_upgrading_enabled = boolean()?
                }
                "znode.container.checkIntervalMs" | "zookeeper.znode.container.checkIntervalMs" => {
                    cfg.container_check_interval_ms = num("milliseconds")?.max(1)
                }
                "commitLogBytes" => {
                    cfg.commit_log_bytes = num("a number of bytes")?.max(1) as usize
                }
                "forceSnapshotSync" | "zookeeper.forceSnapshotSync" => {
                    cfg.force_snapshot_sync = boolean()?
                }
                "commitLogCount" | "zookeeper.commitLogCount" => {
                    cfg.commit_log_count = num("a number of entries")?.max(1) as usize
                }
                k if k.starts_with("server.") => {
                    let spec = parse_server(k, value).map_err(err)?;
                    if cfg.servers.iter().any(|s| s.id == spec.id) {
                        return Err(err(format!("{k} given twice")));
                    }
                    cfg.servers.push(spec);
                }
                k if JAVA_ONLY_KEYS.contains(&k)
                    || k.starts_with("ssl.")
                    || k.starts_with("authProvider.")
                    || k.starts_with("group.")
                    || k.starts_with("weight.") =>
                {
                    tracing::debug!(key = k, "zoo.cfg key has no effect in rookery");
                }
                k => cfg.warnings.push(format!(
                    "{}:{line_no}: unknown key {k:?} ignored",
                    file.display()
                )),
            }
        }
        if !have_data_dir {
            return Err(ConfigError::File {
                file: file.display().to_string(),
                reason: "dataDir is not set".into(),
            });
        }
        if cfg.client_port.is_none() && !cfg.servers.iter().any(|s| s.client.is_some()) {
            return Err(ConfigError::File {
                file: file.display().to_string(),
                reason: "clientPort is not set".into(),
            });
        }
        if !min_set {
            cfg.min_session_timeout_ms = cfg.tick_time_ms * 2;
        }
        if !max_set {
            cfg.max_session_timeout_ms = cfg.tick_time_ms * 20;
        }
        if cfg.min_session_timeout_ms > cfg.max_session_timeout_ms {
            return Err(ConfigError::File {
                file: file.display().to_string(),
                reason: format!(
                    "minSessionTimeout ({}) is larger than maxSessionTimeout ({})",
                    cfg.min_session_timeout_ms, cfg.max_session_timeout_ms
                ),
            });
        }
        if cfg.admin_enable_server
            && admin_port_line > 0
            && Some(cfg.admin_server_port) == cfg.client_port
        {
            return Err(ConfigError::Line {
                file: file.display().to_string(),
                line: admin_port_line,
                reason: "admin.serverPort equals clientPort".into(),
            });
        }
        Ok(cfg)
    }

    fn read_my_id(&mut self) -> Result<(), ConfigError> {
        let path = self.data_dir.join("myid");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim().parse::<u64>().map_err(|_| ConfigError::File {
                    file: path.display().to_string(),
                    reason: format!("myid must be a number, found {:?}", text.trim()),
                })?;
                self.my_id = Some(id);
            }
            Err(_) if self.servers.len() <= 1 => {}
            Err(e) => {
                return Err(ConfigError::File {
                    file: path.display().to_string(),
                    reason: format!("cannot read myid ({e}); an ensemble member needs one"),
                })
            }
        }
        Ok(())
    }

    /// ZooKeeper runs standalone with no server lines or a single one.
    pub fn is_standalone(&self) -> bool {
        self.servers.len() <= 1
    }

    /// Where clients connect.
    pub fn client_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = self
            .client_port_address
            .clone()
            .unwrap_or_else(|| "0.0.0.0".to_string());
        let port = self.client_port.unwrap_or(2181);
        self.resolve_client(&host, port)
    }

    /// Where TLS clients are served (`secureClientPort`), if anywhere.
    pub fn secure_client_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let Some(port) = self.secure_client_port else {
            return Ok(None);
        };
        let host = self
            .secure_client_port_address
            .clone()
            .or_else(|| self.client_port_address.clone())
            .unwrap_or_else(|| "0.0.0.0".to_string());
        self.resolve_client(&host, port).map(Some)
    }

    fn resolve_client(&self, host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
        let host = host.to_string();
        format!("{host}:{port}")
            .parse::<SocketAddr>()
            .or_else(|_| {
                use std::net::ToSocketAddrs;
                (host.as_str(), port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or(())
            })
            .map_err(|_| ConfigError::File {
                file: self.file.display().to_string(),
                reason: format!("clientPortAddress {host:?} does not resolve"),
            })
    }

    /// Clamps a requested session timeout to [min, max].
    pub fn clamp_session_timeout(&self, requested_ms: i32) -> i32 {
        let min = self.min_session_timeout_ms as i64;
        let max = self.max_session_timeout_ms as i64;
        (requested_ms as i64).clamp(min, max) as i32
    }

    pub fn four_letter_allowed(&self, word: &str) -> bool {
        self.four_letter_whitelist
            .iter()
            .any(|w| w == "*" || w == word)
            || (word == "isro" && self.read_only_mode_enabled)
    }

    /// Where RocksDB lives: dataLogDir if set (the log is the durable part), else dataDir.
    pub fn storage_dir(&self) -> PathBuf {
        self.data_log_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
            .join("rocksdb")
    }
}

fn parse_server(key: &str, value: &str) -> Result<ServerSpec, String> {
    let id = key["server.".len()..]
        .parse::<u64>()
        .map_err(|_| format!("{key}: server id must be a number"))?;
    parse_server_spec(key, id, value)
}

/// The value of a `server.N` line (`key` names it in errors).
pub(crate) fn parse_server_spec(key: &str, id: u64, value: &str) -> Result<ServerSpec, String> {
    let (addr, client) = match value.split_once(';') {
        Some((a, c)) => (a.trim(), Some(c.trim().to_string())),
        None => (value, None),
    };
    let parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return Err(format!(
            "{key}: expected host:quorumPort:electionPort[:participant|observer], found {value:?}"
        ));
    }
    let port = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("{key}: {what} {s:?} is not a port"))
    };
    let observer = match parts.get(3).map(|r| r.to_ascii_lowercase()).as_deref() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(other) => return Err(format!("{key}: unknown role {other:?}")),
    };
    if parts[1] == parts[2] {
        return Err(format!(
            "{key}: the quorum and election ports must differ, found {value:?}"
        ));
    }
    Ok(ServerSpec {
        id,
        host: parts[0].to_string(),
        quorum_port: port(parts[1], "quorum port")?,
        election_port: port(parts[2], "election port")?,
        observer,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("zoo.cfg"), text)
    }

    #[test]
    fn reads_zookeeper_keys_and_derives_timeouts() {
        let cfg = parse(
            "tickTime=2000\ndataDir=/tmp/x\nclientPort=2181\n4lw.commands.whitelist=*\n\
             server.1=localhost:2888:3888:participant;0.0.0.0:2181\nfoo.bar=1\n",
        )
        .unwrap();
        assert_eq!(cfg.min_session_timeout_ms, 4000);
        assert_eq!(cfg.max_session_timeout_ms, 40000);
        assert_eq!(cfg.clamp_session_timeout(800), 4000);
        assert_eq!(cfg.clamp_session_timeout(100000), 40000);
        assert!(cfg.is_standalone());
        assert!(cfg.four_letter_allowed("envi"));
        assert_eq!(cfg.warnings.len(), 1);
        assert!(cfg.warnings[0].contains("zoo.cfg:6"));
    }

    #[test]
    fn bad_values_name_the_line() {
        let e = parse("dataDir=/tmp\nclientPort=2181\ntickTime=abc\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "zoo.cfg:3: tickTime: a number of milliseconds expected, found \"abc\""
        );
        let e = parse("dataDir=/tmp\nclientPort=99999\n").unwrap_err();
        assert!(e.to_string().starts_with("zoo.cfg:2: clientPort"), "{e}");
        let e = parse("dataDir=/tmp\nclientPort=1\nserver.1=host:1\n").unwrap_err();
        assert!(e.to_string().starts_with("zoo.cfg:3: server.1"), "{e}");
        assert!(parse("clientPort=1\n")
            .unwrap_err()
            .to_string()
            .contains("dataDir"));
    }

    #[test]
    fn whitelist_defaults_to_srvr() {
        let cfg = parse("dataDir=/tmp\nclientPort=1\n").unwrap();
        assert!(cfg.four_letter_allowed("srvr"));
        assert!(!cfg.four_letter_allowed("ruok"));
    }

    #[test]
    fn http_servers_listen_on_loopback_and_acls_hold_unless_told_otherwise() {
        let cfg = parse("dataDir=/tmp\nclientPort=1\n").unwrap();
        assert_eq!(cfg.admin_server_address, "127.0.0.1");
        assert_eq!(cfg.metrics_http_host, "127.0.0.1");
        assert!(!cfg.skip_acl && !cfg.admin_need_client_auth);
        let cfg = parse(
            "dataDir=/tmp\nclientPort=1\nadmin.serverAddress=0.0.0.0\nskipACL=yes\nadmin.needClientAuth=true\n",
        )
        .unwrap();
        assert_eq!(cfg.admin_server_address, "0.0.0.0");
        assert!(cfg.skip_acl && cfg.admin_need_client_auth);
        assert!(cfg.warnings.iter().any(|w| w.contains("skipACL is on")));
        assert!(parse("dataDir=/tmp\nclientPort=1\nskipACL=maybe\n").is_err());
    }
}
