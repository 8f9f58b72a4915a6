//! Configuration from flags, environment variables and an optional TOML
//! file, in that order of precedence. Every bad value is reported at once,
//! naming the flag, the variable and the file key that could have set it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ditto_core::audit::AuditSigner;
use ditto_core::crypto::MasterKey;
use ditto_core::secrets::Redacted;
use sqlx::postgres::PgConnectOptions;

mod args;
#[cfg(test)]
mod tests;

use args::FileSettings;
pub use args::SettingsArgs;

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
