//! The settings as they arrive: flags and environment variables (clap),
//! and the optional TOML file.

use std::path::PathBuf;

use clap::Args;
use ditto_core::secrets::Redacted;
use serde::Deserialize;

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
pub(super) struct FileSettings {
    pub(super) database_url: Option<String>,
    pub(super) redis_url: Option<String>,
    pub(super) redis_cluster: Option<bool>,
    pub(super) rate_limits_fail_open: Option<bool>,
    pub(super) usage_spool_dir: Option<PathBuf>,
    pub(super) listen: Option<String>,
    pub(super) bootstrap_token: Option<String>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) log_format: Option<String>,
    pub(super) db_max_connections: Option<u32>,
    pub(super) master_key: Option<String>,
    pub(super) audit_signing_key: Option<String>,
    pub(super) audit_previous_signing_keys: Option<String>,
    pub(super) audit_export_dir: Option<PathBuf>,
    pub(super) base_domain: Option<String>,
    pub(super) worker_threads: Option<usize>,
    pub(super) session_idle_timeout: Option<String>,
    pub(super) session_absolute_timeout: Option<String>,
    pub(super) secure_cookies: Option<bool>,
    pub(super) password_min_length: Option<u32>,
    pub(super) sign_in_max_failures: Option<u32>,
    pub(super) sign_in_lockout: Option<String>,
    pub(super) argon2_memory_kib: Option<u32>,
    pub(super) argon2_iterations: Option<u32>,
    pub(super) public_url: Option<String>,
    pub(super) sso_private_hosts: Option<Vec<String>>,
    pub(super) egress_allow: Option<Vec<String>>,
    pub(super) trusted_proxies: Option<Vec<String>>,
}
