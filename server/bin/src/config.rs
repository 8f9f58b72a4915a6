//! Configuration from flags, environment variables and an optional TOML
//! file, in that order of precedence. Every bad value is reported at once,
//! naming the flag, the variable and the file key that could have set it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use ditto_core::audit::AuditSigner;
use ditto_core::crypto::MasterKey;
use ditto_core::secrets::Redacted;
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

/// Settings shared by every subcommand.
#[derive(Args, Debug, Default, Clone)]
pub struct SettingsArgs {
    /// TOML file with any of the settings below (keys in snake_case).
    #[arg(long, short = 'c', env = "DITTO_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Postgres URL. Absent: run a private Postgres in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<Redacted>,
    /// Redis URL (redis:// or rediss://). Optional: without it, rate limits
    /// and budgets are counted in this process (exact for one replica only).
    /// With --redis-cluster, a comma-separated list of cluster nodes.
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<Redacted>,
    /// REDIS_URL names nodes of a Redis Cluster (`true`/`false`) [default: false].
    #[arg(long, env = "DITTO_REDIS_CLUSTER", global = true)]
    pub redis_cluster: Option<String>,
    /// When Redis cannot be reached, let requests through without counting
    /// them against rate limits (`true`/`false`) [default: false]. Budgets
    /// always refuse requests they cannot count.
    #[arg(long, env = "DITTO_RATE_LIMITS_FAIL_OPEN", global = true)]
    pub rate_limits_fail_open: Option<String>,
    /// Where usage events wait on disk while the database is unreachable
    /// [default: <data dir>/usage-spool].
    #[arg(long, env = "DITTO_USAGE_SPOOL_DIR", global = true)]
    pub usage_spool_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DITTO_LISTEN", global = true)]
    pub listen: Option<String>,
    /// On first start with an empty database, a platform administrator is
    /// created whose bearer token is this value (at least 24 characters).
    #[arg(
        long,
        env = "DITTO_BOOTSTRAP_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub bootstrap_token: Option<Redacted>,
    /// Where the embedded Postgres keeps its data [default: ./.ditto].
    #[arg(long, env = "DITTO_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "DITTO_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Base64 of 32 random bytes (`openssl rand -base64 32`) that encrypts
    /// upstream credentials at rest. The embedded setup makes one.
    #[arg(long, env = "DITTO_MASTER_KEY", global = true, hide_env_values = true)]
    pub master_key: Option<Redacted>,
    /// Base64 of a 32-byte Ed25519 seed (`openssl rand -base64 32`) that signs
    /// audit checkpoints. The embedded setup makes one.
    #[arg(
        long,
        env = "DITTO_AUDIT_SIGNING_KEY",
        global = true,
        hide_env_values = true
    )]
    pub audit_signing_key: Option<Redacted>,
    /// Public keys (base64, comma-separated) of audit signing keys this
    /// server used before: checkpoints they signed still verify. Rotate by
    /// putting the current key's public key (`GET /api/v1/audit/signing-key`)
    /// here and a new DITTO_AUDIT_SIGNING_KEY in its place.
    #[arg(long, env = "DITTO_AUDIT_PREVIOUS_SIGNING_KEYS", global = true)]
    pub audit_previous_signing_keys: Option<String>,
    /// Directory tenants' local audit export destinations write under (each
    /// tenant in a subdirectory named by its id). Without it, only
    /// S3-compatible destinations can be configured.
    #[arg(long, env = "DITTO_AUDIT_EXPORT_DIR", global = true)]
    pub audit_export_dir: Option<PathBuf>,
    /// With `ai.example.com`, `acme.ai.example.com/v1/...` serves tenant acme.
    #[arg(long, env = "DITTO_BASE_DOMAIN", global = true)]
    pub base_domain: Option<String>,
    /// Worker threads of the async runtime [default: one per CPU core].
    #[arg(long, env = "DITTO_WORKER_THREADS", global = true)]
    pub worker_threads: Option<String>,
    /// A console session unused this long ends: seconds, or with a unit
    /// (`90s`, `30m`, `12h`, `7d`) [default: 30m].
    #[arg(long, env = "DITTO_SESSION_IDLE_TIMEOUT", global = true)]
    pub session_idle_timeout: Option<String>,
    /// A console session ends this long after sign-in [default: 12h].
    #[arg(long, env = "DITTO_SESSION_ABSOLUTE_TIMEOUT", global = true)]
    pub session_absolute_timeout: Option<String>,
    /// Mark session cookies `Secure` (`true`/`false`) [default: true unless
    /// listening on a loopback address]. Set it when TLS ends in a proxy.
    #[arg(long, env = "DITTO_SECURE_COOKIES", global = true)]
    pub secure_cookies: Option<String>,
    /// Shortest password accepted, 8–128 [default: 12].
    #[arg(long, env = "DITTO_PASSWORD_MIN_LENGTH", global = true)]
    pub password_min_length: Option<String>,
    /// Failed sign-ins in a row that lock an account, 1–100 [default: 5].
    #[arg(long, env = "DITTO_SIGN_IN_MAX_FAILURES", global = true)]
    pub sign_in_max_failures: Option<String>,
    /// How long a locked account stays locked [default: 15m].
    #[arg(long, env = "DITTO_SIGN_IN_LOCKOUT", global = true)]
    pub sign_in_lockout: Option<String>,
    /// Argon2id memory cost in KiB, 8192–1048576 [default: 19456].
    #[arg(long, env = "DITTO_ARGON2_MEMORY_KIB", global = true)]
    pub argon2_memory_kib: Option<String>,
    /// Argon2id passes, 1–10 [default: 2].
    #[arg(long, env = "DITTO_ARGON2_ITERATIONS", global = true)]
    pub argon2_iterations: Option<String>,
    /// Largest number of database connections [default: 16].
    #[arg(long, env = "DITTO_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<String>,
    /// The URL browsers and identity providers reach this server at
    /// (`https://ditto.example.com`); redirect URIs and other absolute URLs
    /// are built from it instead of the request's Host header.
    #[arg(long, env = "DITTO_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Internal destinations tenants may choose (backends, export
    /// endpoints, identity providers), comma-separated host names, IP
    /// addresses and CIDR blocks (`vllm.internal,10.0.0.0/8`). All others
    /// must resolve to public addresses.
    #[arg(long, env = "DITTO_EGRESS_ALLOW", global = true)]
    pub egress_allow: Option<String>,
    /// The older name for identity provider hosts on private addresses;
    /// its entries join `DITTO_EGRESS_ALLOW`.
    #[arg(long, env = "DITTO_SSO_PRIVATE_HOSTS", global = true)]
    pub sso_private_hosts: Option<String>,
    /// Load balancers and ingresses in front of this server, comma-separated
    /// IP addresses and CIDR blocks: for requests from them, the client is
    /// the address they forward in `X-Forwarded-For`. Without it, the peer
    /// is the client.
    #[arg(long, env = "DITTO_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
}

/// The optional config file. Unknown keys are errors, so typos do not pass
/// silently.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_cluster: Option<bool>,
    rate_limits_fail_open: Option<bool>,
    usage_spool_dir: Option<PathBuf>,
    listen: Option<String>,
    bootstrap_token: Option<String>,
    data_dir: Option<PathBuf>,
    log_format: Option<String>,
    db_max_connections: Option<u32>,
    master_key: Option<String>,
    audit_signing_key: Option<String>,
    audit_previous_signing_keys: Option<String>,
    audit_export_dir: Option<PathBuf>,
    base_domain: Option<String>,
    worker_threads: Option<usize>,
    session_idle_timeout: Option<String>,
    session_absolute_timeout: Option<String>,
    secure_cookies: Option<bool>,
    password_min_length: Option<u32>,
    sign_in_max_failures: Option<u32>,
    sign_in_lockout: Option<String>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    public_url: Option<String>,
    sso_private_hosts: Option<Vec<String>>,
    egress_allow: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the database is.
#[derive(Clone, Debug)]
pub enum Database {
    External(Box<PgConnectOptions>),
    /// A private Postgres under the data directory.
    Embedded,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database: Database,
    /// The first Redis node (the only one unless `redis_cluster`).
    pub redis_url: Option<url::Url>,
    pub redis_nodes: Vec<url::Url>,
    pub redis_cluster: bool,
    pub rate_limits_fail_open: bool,
    pub usage_spool_dir: PathBuf,
    pub listen: SocketAddr,
    pub bootstrap_token: Option<Redacted>,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub db_max_connections: u32,
    pub master_key: Option<MasterKey>,
    pub audit_signing_key: Option<AuditSigner>,
    /// Retired audit signing keys' public keys.
    pub audit_previous_signing_keys: Vec<ditto_core::audit::PublicKey>,
    pub audit_export_dir: Option<PathBuf>,
    pub base_domain: Option<String>,
    /// `None`: one per core.
    pub worker_threads: Option<usize>,
    /// Local sign-in: password hashing and policy, sessions, lockout.
    pub identity: ditto_identity::Identity,
    /// Where tenant-chosen destinations may be (`DITTO_EGRESS_ALLOW`).
    pub egress: ditto_egress::EgressPolicy,
    /// Proxies whose `X-Forwarded-For` is believed (`DITTO_TRUSTED_PROXIES`).
    pub trusted_proxies: ditto_egress::Networks,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const MIN_BOOTSTRAP_TOKEN_LEN: usize = 24;

impl Config {
    pub fn load(args: &SettingsArgs) -> Result<Self, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let mut errors = Vec::new();
        let mut fail = |setting: &str, flag: &str, env: &str, message: String| {
            errors.push(format!(
                "{setting} (--{flag}, {env} or `{setting}` in the config file): {message}"
            ));
        };

        let database = match args
            .database_url
            .clone()
            .map(|r| r.0)
            .or(file.database_url)
            .filter(|s| !s.is_empty())
        {
            None => Database::Embedded,
            Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
                fail(
                    "database_url",
                    "database-url",
                    "DATABASE_URL",
                    "must start with postgres:// or postgresql://".into(),
                );
                Database::Embedded
            }
            Some(url) => match PgConnectOptions::from_str(&url) {
                Ok(options) => Database::External(Box::new(options)),
                Err(e) => {
                    // The URL may hold a password: describe the error, never echo the value.
                    fail(
                        "database_url",
                        "database-url",
                        "DATABASE_URL",
                        format!(
                            "not a valid Postgres URL ({})",
                            redact_error(&e.to_string(), &url)
                        ),
                    );
                    Database::Embedded
                }
            },
        };

        let mut flag =
            |raw: Option<String>, file: Option<bool>, setting: &str, flag: &str, env: &str| {
                match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("") => file.unwrap_or(false),
                    Some("true" | "1" | "yes") => true,
                    Some("false" | "0" | "no") => false,
                    Some(other) => {
                        fail(
                            setting,
                            flag,
                            env,
                            format!("'{other}' is not true or false"),
                        );
                        false
                    }
                }
            };
        let redis_cluster = flag(
            args.redis_cluster.clone(),
            file.redis_cluster,
            "redis_cluster",
            "redis-cluster",
            "DITTO_REDIS_CLUSTER",
        );
        let rate_limits_fail_open = flag(
            args.rate_limits_fail_open.clone(),
            file.rate_limits_fail_open,
            "rate_limits_fail_open",
            "rate-limits-fail-open",
            "DITTO_RATE_LIMITS_FAIL_OPEN",
        );
        let raw_redis = args
            .redis_url
            .clone()
            .map(|r| r.0)
            .or(file.redis_url)
            .filter(|s| !s.is_empty());
        let mut redis_nodes = Vec::new();
        for raw in raw_redis.iter().flat_map(|r| r.split(',')).map(str::trim) {
            match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {
                    redis_nodes.push(u)
                }
                Ok(_) => fail(
                    "redis_url",
                    "redis-url",
                    "REDIS_URL",
                    "must look like redis://host:6379 or rediss://host:6380".into(),
                ),
                Err(e) => fail(
                    "redis_url",
                    "redis-url",
                    "REDIS_URL",
                    format!("not a valid URL ({e})"),
                ),
            }
        }
        if redis_nodes.len() > 1 && !redis_cluster {
            fail(
                "redis_url",
                "redis-url",
                "REDIS_URL",
                "lists several nodes; set DITTO_REDIS_CLUSTER=true for a Redis Cluster".into(),
            );
        }
        let redis_url = redis_nodes.first().cloned();

        let listen_raw = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = match listen_raw.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                fail(
                    "listen",
                    "listen",
                    "DITTO_LISTEN",
                    format!("'{listen_raw}' is not an address like 127.0.0.1:8080 or [::]:8080"),
                );
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };

        let bootstrap_token = match args
            .bootstrap_token
            .clone()
            .map(|r| r.0)
            .or(file.bootstrap_token)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(token) if token.chars().count() < MIN_BOOTSTRAP_TOKEN_LEN => {
                fail(
                    "bootstrap_token",
                    "bootstrap-token",
                    "DITTO_BOOTSTRAP_TOKEN",
                    format!("must have at least {MIN_BOOTSTRAP_TOKEN_LEN} characters"),
                );
                None
            }
            Some(token) if !token.chars().all(|c| c.is_ascii_graphic()) => {
                fail(
                    "bootstrap_token",
                    "bootstrap-token",
                    "DITTO_BOOTSTRAP_TOKEN",
                    "must be printable ASCII without spaces".into(),
                );
                None
            }
            Some(token) => Some(Redacted(token)),
        };

        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(".ditto"));
        let usage_spool_dir = args
            .usage_spool_dir
            .clone()
            .or(file.usage_spool_dir)
            .unwrap_or_else(|| data_dir.join("usage-spool"));

        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                fail(
                    "log_format",
                    "log-format",
                    "DITTO_LOG_FORMAT",
                    format!("'{other}' is not one of: text, json"),
                );
                LogFormat::Text
            }
        };

        let db_max_connections = match &args.db_max_connections {
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    fail(
                        "db_max_connections",
                        "db-max-connections",
                        "DITTO_DB_MAX_CONNECTIONS",
                        format!("'{raw}' is not a number between 1 and 1000"),
                    );
                    16
                }
            },
            None => match file.db_max_connections {
                Some(n) if !(1..=1000).contains(&n) => {
                    fail(
                        "db_max_connections",
                        "db-max-connections",
                        "DITTO_DB_MAX_CONNECTIONS",
                        format!("{n} is not between 1 and 1000"),
                    );
                    16
                }
                Some(n) => n,
                None => 16,
            },
        };

        let master_key = match args
            .master_key
            .clone()
            .map(|r| r.0)
            .or(file.master_key)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(encoded) => match MasterKey::from_base64(&encoded) {
                Ok(key) => Some(key),
                Err(message) => {
                    fail("master_key", "master-key", "DITTO_MASTER_KEY", message);
                    None
                }
            },
        };

        let audit_signing_key = match args
            .audit_signing_key
            .clone()
            .map(|r| r.0)
            .or(file.audit_signing_key)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(encoded) => match AuditSigner::from_base64(&encoded) {
                Ok(key) => Some(key),
                Err(message) => {
                    fail(
                        "audit_signing_key",
                        "audit-signing-key",
                        "DITTO_AUDIT_SIGNING_KEY",
                        message,
                    );
                    None
                }
            },
        };

        let audit_previous_signing_keys = match args
            .audit_previous_signing_keys
            .clone()
            .or(file.audit_previous_signing_keys)
        {
            None => Vec::new(),
            Some(list) => match ditto_core::audit::parse_public_keys(&list) {
                Ok(keys) => keys,
                Err(message) => {
                    fail(
                        "audit_previous_signing_keys",
                        "audit-previous-signing-keys",
                        "DITTO_AUDIT_PREVIOUS_SIGNING_KEYS",
                        message,
                    );
                    Vec::new()
                }
            },
        };

        let audit_export_dir = args
            .audit_export_dir
            .clone()
            .or(file.audit_export_dir)
            .filter(|p| !p.as_os_str().is_empty());

        let base_domain = match args
            .base_domain
            .clone()
            .or(file.base_domain)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(domain) => {
                let domain = domain.trim_start_matches('.').to_ascii_lowercase();
                let valid = domain.contains('.')
                    && domain.split('.').all(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if !valid {
                    fail(
                        "base_domain",
                        "base-domain",
                        "DITTO_BASE_DOMAIN",
                        format!("'{domain}' is not a domain name like ai.example.com"),
                    );
                }
                Some(domain)
            }
        };

        let worker_threads = match args.worker_threads.as_deref() {
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => Some(n),
                _ => {
                    fail(
                        "worker_threads",
                        "worker-threads",
                        "DITTO_WORKER_THREADS",
                        format!("'{raw}' is not a number between 1 and 1024"),
                    );
                    None
                }
            },
            None => file.worker_threads,
        };

        let setting = |raw: Option<String>, file: Option<String>, key: &str| {
            let (flag, env) = (
                key.replace('_', "-"),
                format!("DITTO_{}", key.to_uppercase()),
            );
            (
                raw.or(file).filter(|s| !s.is_empty()),
                key.to_owned(),
                flag,
                env,
            )
        };
        let mut bad = Vec::new();
        let mut duration = |(raw, key, flag, env): (Option<String>, String, String, String),
                            default: Duration| {
            match raw {
                None => default,
                Some(raw) => {
                    match parse_duration(&raw) {
                        Some(d)
                            if d >= Duration::from_secs(1)
                                && d <= Duration::from_secs(365 * 86400) =>
                        {
                            d
                        }
                        _ => {
                            bad.push((key, flag, env, format!("'{raw}' is not a duration like 90s, 30m, 12h or 7d (1 s to 365 d)")));
                            default
                        }
                    }
                }
            }
        };
        let idle = duration(
            setting(
                args.session_idle_timeout.clone(),
                file.session_idle_timeout,
                "session_idle_timeout",
            ),
            Duration::from_secs(30 * 60),
        );
        let absolute = duration(
            setting(
                args.session_absolute_timeout.clone(),
                file.session_absolute_timeout,
                "session_absolute_timeout",
            ),
            Duration::from_secs(12 * 3600),
        );
        let lockout = duration(
            setting(
                args.sign_in_lockout.clone(),
                file.sign_in_lockout,
                "sign_in_lockout",
            ),
            Duration::from_secs(15 * 60),
        );
        let mut number = |(raw, key, flag, env): (Option<String>, String, String, String),
                          range: std::ops::RangeInclusive<u32>,
                          default: u32| match raw {
            None => default,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if range.contains(&n) => n,
                _ => {
                    bad.push((
                        key,
                        flag,
                        env,
                        format!(
                            "'{raw}' is not a number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    ));
                    default
                }
            },
        };
        let text = |n: Option<u32>| n.map(|n| n.to_string());
        let min_length = number(
            setting(
                args.password_min_length.clone(),
                text(file.password_min_length),
                "password_min_length",
            ),
            8..=128,
            12,
        );
        let max_failures = number(
            setting(
                args.sign_in_max_failures.clone(),
                text(file.sign_in_max_failures),
                "sign_in_max_failures",
            ),
            1..=100,
            5,
        );
        let memory_kib = number(
            setting(
                args.argon2_memory_kib.clone(),
                text(file.argon2_memory_kib),
                "argon2_memory_kib",
            ),
            8192..=1_048_576,
            19 * 1024,
        );
        let iterations = number(
            setting(
                args.argon2_iterations.clone(),
                text(file.argon2_iterations),
                "argon2_iterations",
            ),
            1..=10,
            2,
        );
        for (key, flag, env, message) in bad {
            fail(&key, &flag, &env, message);
        }
        let secure_cookies = match args
            .secure_cookies
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") => file.secure_cookies.unwrap_or(!listen.ip().is_loopback()),
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                fail(
                    "secure_cookies",
                    "secure-cookies",
                    "DITTO_SECURE_COOKIES",
                    format!("'{other}' is not true or false"),
                );
                true
            }
        };
        let public_url = match args
            .public_url
            .clone()
            .or(file.public_url)
            .filter(|u| !u.trim().is_empty())
        {
            None => None,
            Some(raw) => match ditto_identity::public_url::PublicUrl::parse(&raw) {
                Ok(url) => Some(url),
                Err(message) => {
                    fail("public_url", "public-url", "DITTO_PUBLIC_URL", message);
                    None
                }
            },
        };
        let listed = |arg: &Option<String>, file: Option<Vec<String>>| match arg {
            Some(list) => list.clone(),
            None => file.unwrap_or_default().join(","),
        };
        let allow = format!(
            "{},{}",
            listed(&args.egress_allow, file.egress_allow),
            listed(&args.sso_private_hosts, file.sso_private_hosts)
        );
        let egress = match ditto_egress::EgressPolicy::parse(&allow) {
            Ok(policy) => policy.with_own_addresses([listen]),
            Err(message) => {
                fail(
                    "egress_allow",
                    "egress-allow",
                    "DITTO_EGRESS_ALLOW",
                    message,
                );
                ditto_egress::EgressPolicy::strict()
            }
        };
        let trusted_proxies = match ditto_egress::Networks::parse(&listed(
            &args.trusted_proxies,
            file.trusted_proxies,
        )) {
            Ok(networks) => networks,
            Err(message) => {
                fail(
                    "trusted_proxies",
                    "trusted-proxies",
                    ditto_api::TRUSTED_PROXIES_SETTING,
                    message,
                );
                ditto_egress::Networks::default()
            }
        };
        if absolute < idle {
            fail(
                "session_absolute_timeout",
                "session-absolute-timeout",
                "DITTO_SESSION_ABSOLUTE_TIMEOUT",
                "must not be shorter than the idle timeout".into(),
            );
        }
        let passwords = ditto_identity::password::Passwords::new(
            ditto_identity::password::HashParams {
                memory_kib,
                iterations,
                parallelism: 1,
            },
            ditto_identity::password::PasswordPolicy {
                min_length: min_length as usize,
            },
        );
        let identity = match passwords {
            Ok(passwords) => Some(ditto_identity::Identity {
                passwords,
                sessions: ditto_identity::session::SessionPolicy {
                    idle_timeout: idle,
                    absolute_timeout: absolute,
                    secure_cookies,
                },
                lockout: ditto_identity::LockoutPolicy {
                    max_failures,
                    lockout,
                },
                public_url,
                providers: ditto_identity::egress::ProviderAccess::new(egress.clone()),
            }),
            Err(message) => {
                fail(
                    "argon2_memory_kib",
                    "argon2-memory-kib",
                    "DITTO_ARGON2_MEMORY_KIB",
                    message,
                );
                None
            }
        };

        if !errors.is_empty() {
            return Err(format!(
                "invalid configuration:\n  - {}",
                errors.join("\n  - ")
            ));
        }
        let Some(identity) = identity else {
            return Err("invalid configuration: argon2 parameters".into());
        };
        Ok(Config {
            identity,
            egress,
            trusted_proxies,
            database,
            redis_url,
            redis_nodes,
            redis_cluster,
            rate_limits_fail_open,
            usage_spool_dir,
            listen,
            bootstrap_token,
            data_dir,
            log_format,
            db_max_connections,
            master_key,
            audit_signing_key,
            audit_previous_signing_keys,
            audit_export_dir,
            base_domain,
            worker_threads,
        })
    }
}

/// `90`, `90s`, `30m`, `12h` or `7d`.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn read_file(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("the config file {} is invalid: {e}", path.display()))
}

/// Removes the value itself from an error message about it.
fn redact_error(message: &str, secret: &str) -> String {
    message.replace(secret, "<DATABASE_URL>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: SettingsArgs) -> Result<Config, String> {
        Config::load(&args)
    }

    #[test]
    fn defaults_to_embedded_on_localhost() {
        let config = load(SettingsArgs::default()).unwrap();
        assert!(matches!(config.database, Database::Embedded));
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from(".ditto"));
    }

    #[test]
    fn reports_every_bad_value_without_echoing_secrets() {
        let err = load(SettingsArgs {
            database_url: Some(Redacted("mysql://u:hunter2@h/db".into())),
            redis_url: Some(Redacted("http://x".into())),
            listen: Some("nope".into()),
            bootstrap_token: Some(Redacted("short".into())),
            log_format: Some("xml".into()),
            db_max_connections: Some("0".into()),
            ..Default::default()
        })
        .unwrap_err();
        for needle in [
            "DATABASE_URL",
            "REDIS_URL",
            "DITTO_LISTEN",
            "DITTO_BOOTSTRAP_TOKEN",
            "DITTO_LOG_FORMAT",
            "DITTO_DB_MAX_CONNECTIONS",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
        assert!(!err.contains("hunter2"));
        assert!(
            !err.contains("short"),
            "the token value must not be echoed: {err}"
        );
    }

    #[test]
    fn sign_in_settings_have_safe_defaults_and_clear_errors() {
        let local = load(SettingsArgs::default()).unwrap().identity;
        assert_eq!(local.sessions.idle_timeout, Duration::from_secs(1800));
        assert_eq!(local.sessions.absolute_timeout, Duration::from_secs(43200));
        assert_eq!(local.lockout.max_failures, 5);
        assert_eq!(local.passwords.policy().min_length, 12);
        // Cookies are Secure unless the server only listens on loopback.
        assert!(!local.sessions.secure_cookies);
        let public = load(SettingsArgs {
            listen: Some("0.0.0.0:8080".into()),
            session_idle_timeout: Some("90s".into()),
            session_absolute_timeout: Some("7d".into()),
            sign_in_lockout: Some("2h".into()),
            ..Default::default()
        })
        .unwrap()
        .identity;
        assert!(public.sessions.secure_cookies);
        assert_eq!(public.sessions.idle_timeout, Duration::from_secs(90));
        assert_eq!(
            public.sessions.absolute_timeout,
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(public.lockout.lockout, Duration::from_secs(7200));

        let err = load(SettingsArgs {
            session_idle_timeout: Some("soon".into()),
            secure_cookies: Some("maybe".into()),
            password_min_length: Some("4".into()),
            sign_in_max_failures: Some("0".into()),
            argon2_memory_kib: Some("10".into()),
            argon2_iterations: Some("x".into()),
            ..Default::default()
        })
        .unwrap_err();
        for needle in [
            "DITTO_SESSION_IDLE_TIMEOUT",
            "DITTO_SECURE_COOKIES",
            "DITTO_PASSWORD_MIN_LENGTH",
            "DITTO_SIGN_IN_MAX_FAILURES",
            "DITTO_ARGON2_MEMORY_KIB",
            "DITTO_ARGON2_ITERATIONS",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
        let err = load(SettingsArgs {
            session_idle_timeout: Some("2h".into()),
            session_absolute_timeout: Some("1h".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("shorter than the idle timeout"), "{err}");
    }

    #[test]
    fn public_url_is_an_absolute_http_url() {
        let config = load(SettingsArgs {
            public_url: Some("https://ditto.example.com/".into()),
            sso_private_hosts: Some("idp.internal, 10.0.0.5".into()),
            ..Default::default()
        })
        .unwrap();
        let url = config.identity.public_url.expect("set");
        assert_eq!(url.join("/x"), "https://ditto.example.com/x");
        for bad in [
            "ditto.example.com",
            "https://ditto.example.com/?a=1",
            "ftp://h",
        ] {
            let err = load(SettingsArgs {
                public_url: Some(bad.into()),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.contains("DITTO_PUBLIC_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn file_values_apply_under_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ditto.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let config = load(SettingsArgs {
            config: Some(path.clone()),
            log_format: Some("text".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.log_format, LogFormat::Text);

        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = load(SettingsArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("unknown field `lisen`"), "{err}");
    }
}
