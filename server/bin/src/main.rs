//! `ditto`: run the platform (`serve`), apply migrations (`migrate`), print
//! the OpenAPI document (`openapi`).

mod config;
mod embedded_pg;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ditto_api::AppState;
use ditto_core::audit::AuditSigner;
use ditto_core::crypto::MasterKey;
use ditto_gateway::{CounterStore, Gateway, GatewayConfig, LimitsConfig};
use ditto_store::{DbConfig, Store};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::net::TcpListener;

use config::{Config, Database, LogFormat, SettingsArgs};
use embedded_pg::EmbeddedPostgres;

#[derive(Parser, Debug)]
#[command(
    name = "ditto",
    version,
    about = "Ditto, the multi-tenant LLM gateway platform"
)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the admin API (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check a tenant's audit chain from its anchoring checkpoint to its head;
    /// exits non-zero and names the first broken link when it does not hold.
    Verify {
        /// The tenant's slug (or id).
        #[arg(long)]
        tenant: String,
    },
}

// The request path allocates per request; mimalloc is markedly cheaper than
// glibc's allocator under this load (see bench/).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// File in the data directory holding the generated administrator token of
/// an embedded setup (readable by its owner only).
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// File in the data directory holding the embedded setup's master key.
const MASTER_KEY_FILE: &str = "master-key";

/// File in the data directory holding the embedded setup's audit signing key.
const AUDIT_KEY_FILE: &str = "audit-signing-key";

/// How often `serve` checkpoints the audit chains and applies retention.
const AUDIT_HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How often `serve` looks for due audit export schedules and waiting runs.
const AUDIT_EXPORTS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", ditto_api::openapi_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(&cli.settings) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.worker_threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Every line passes the redaction policy on its way out, whatever
    // crate logged it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ditto_core::redact::Redacting(std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(command: Command, config: Config) -> Result<()> {
    let (store, embedded) = open_database(&config).await?;
    let result = match command {
        Command::Serve => serve(&config, store.clone(), embedded.as_ref()).await,
        Command::Migrate => migrate(&store).await,
        Command::Audit(AuditCommand::Verify { tenant }) => {
            audit_verify(&config, &store, embedded.is_some(), &tenant).await
        }
        Command::Openapi => unreachable!("handled before the runtime starts"),
    };
    store.pool().close().await;
    if let Some(pg) = embedded {
        pg.stop().await.context("stopping the embedded Postgres")?;
    }
    result
}

async fn open_database(config: &Config) -> Result<(Store, Option<EmbeddedPostgres>)> {
    let db = DbConfig {
        max_connections: config.db_max_connections,
        ..DbConfig::default()
    };
    match &config.database {
        Database::External(options) => Ok((Store::connect_lazy((**options).clone(), &db), None)),
        Database::Embedded => {
            let pg = EmbeddedPostgres::start(&config.data_dir).await?;
            tracing::info!(data = %pg.data_dir().display(), "embedded Postgres is running");
            Ok((Store::connect_lazy(pg.connect_options(), &db), Some(pg)))
        }
    }
}

async fn audit_verify(config: &Config, store: &Store, embedded: bool, tenant: &str) -> Result<()> {
    let Some(signer) = audit_signer(config, embedded)? else {
        anyhow::bail!(
            "set DITTO_AUDIT_SIGNING_KEY: checkpoints are checked against its public key"
        );
    };
    let report = store
        .operator_verify_audit_chain(tenant, &signer.public_keys())
        .await?;
    let from = report
        .anchor
        .as_ref()
        .map_or("the beginning".to_owned(), |c| {
            format!("checkpoint {} at {}", c.id, c.seq)
        });
    match &report.broken {
        None => {
            println!(
                "ok: {} events verified from {from} through {}",
                report.checked, report.verified_through
            );
            if !report.checkpoint_keys.is_empty() {
                println!(
                    "checkpoints signed by key{} {}",
                    if report.checkpoint_keys.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    report.checkpoint_keys.join(", ")
                );
            }
            Ok(())
        }
        Some(broken) => anyhow::bail!(
            "the chain breaks at sequence {}: {} (verified from {from} through {})",
            broken.seq,
            broken.reason,
            report.verified_through
        ),
    }
}

/// Checkpoints every audit chain that moved and applies retention, every
/// [`AUDIT_HOUSEKEEPING_EVERY`], until the process ends.
fn spawn_audit_housekeeping(store: Store, signer: AuditSigner) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(AUDIT_HOUSEKEEPING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.audit_housekeeping(&signer).await {
                Ok((checkpoints, removed)) => {
                    tracing::info!(checkpoints, removed, "audit housekeeping")
                }
                Err(e) => tracing::warn!(error = %e, "audit housekeeping failed"),
            }
        }
    });
}

/// Turns due audit export schedules into runs and works off runs, every
/// [`AUDIT_EXPORTS_EVERY`], until the process ends. Every replica does;
/// the store hands each schedule and run to one of them.
fn spawn_audit_exports(exporter: ditto_audit_export::Exporter) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(AUDIT_EXPORTS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = exporter.tick().await {
                tracing::warn!(error = %e, "audit export pass failed");
            }
        }
    });
}

/// The audit signing key: configured, or (embedded setup) kept in the data directory.
fn audit_signer(config: &Config, embedded: bool) -> Result<Option<AuditSigner>> {
    let retired = config.audit_previous_signing_keys.clone();
    if let Some(key) = &config.audit_signing_key {
        return Ok(Some(key.clone().with_retired(retired)));
    }
    if !embedded {
        tracing::warn!(
            "no DITTO_AUDIT_SIGNING_KEY: audit checkpoints cannot be signed or verified"
        );
        return Ok(None);
    }
    let path = config.data_dir.join(AUDIT_KEY_FILE);
    if !path.exists() {
        embedded_pg::write_private(&path, &AuditSigner::generate_base64())?;
    }
    let encoded =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", display(&path)))?;
    let key = AuditSigner::from_base64(&encoded)
        .map_err(|e| anyhow::anyhow!("{}: {e}", display(&path)))?;
    Ok(Some(key.with_retired(retired)))
}

async fn migrate(store: &Store) -> Result<()> {
    store.migrate().await.context("applying migrations")?;
    println!("migrations are up to date");
    Ok(())
}

async fn serve(config: &Config, store: Store, embedded: Option<&EmbeddedPostgres>) -> Result<()> {
    store.migrate().await.context("applying migrations")?;
    let token_hint = bootstrap(config, &store, embedded.is_some()).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let base = format!("http://{}", listener.local_addr()?);
    tracing::info!(address = %base, "listening");
    println!("Ditto is serving on {base}");
    println!("  admin API        {base}/api/v1");
    println!("  API reference    {base}/api/v1/docs");
    println!("  health           {base}/healthz, {base}/readyz");
    let web_assets = ditto_web::server::Assets::from_env();
    if web_assets.present() {
        println!("  console          {base}/console");
    } else {
        println!("  console          not built (run ./scripts/build-web)");
    }
    if let Some(hint) = token_hint {
        println!("  authenticate     {hint}");
    }

    let redis = match &config.redis_url {
        Some(url) => Some(ditto_store::Redis::open(url.as_str()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let master_key = master_key(config, embedded.is_some())?;
    let audit_signer = audit_signer(config, embedded.is_some())?;
    if let Some(signer) = &audit_signer {
        spawn_audit_housekeeping(store.clone(), signer.clone());
    }
    let counter_store = match (config.redis_cluster, config.redis_nodes.as_slice()) {
        (_, []) => CounterStore::Local,
        (false, [node, ..]) => CounterStore::Redis(node.to_string()),
        (true, nodes) => CounterStore::RedisCluster(nodes.iter().map(|n| n.to_string()).collect()),
    };
    let gateway_config = GatewayConfig {
        base_domain: config.base_domain.clone(),
        usage_spool: Some(config.usage_spool_dir.clone()),
        limits: LimitsConfig {
            store: counter_store,
            rate_limits_fail_open: config.rate_limits_fail_open,
            ..LimitsConfig::default()
        },
        egress: config.egress.clone(),
        ..GatewayConfig::default()
    };
    let (gateway, gateway_handle) =
        Gateway::start(store.clone(), master_key.clone(), gateway_config)
            .await
            .context("loading the gateway's configuration")?;
    println!("  OpenAI endpoint  {base}/t/<tenant>/v1 (with a tenant's dk-… key)");
    let metrics_gateway = gateway.clone();
    let audit_exporter = ditto_audit_export::Exporter::new(
        store.clone(),
        master_key.clone(),
        audit_signer.clone(),
        config.audit_export_dir.clone(),
        config.egress.clone(),
    );
    spawn_audit_exports(audit_exporter.clone());
    let app = ditto_api::app(AppState {
        audit_exporter,
        store,
        redis,
        master_key,
        audit_signer: audit_signer.clone(),
        metrics: Some(std::sync::Arc::new(move || {
            metrics_gateway.render_metrics()
        })),
        identity: config.identity.clone(),
        egress: config.egress.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
    })
    .merge(ditto_gateway::router(gateway))
    // The console's pages get request ids and spans like the API's.
    .merge(ditto_api::traced(ditto_web::server::router(web_assets)));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    gateway_handle.shutdown().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Creates the first platform administrator on an empty database. Returns
/// how to authenticate, for the start-up banner (never the token itself).
async fn bootstrap(config: &Config, store: &Store, embedded: bool) -> Result<Option<String>> {
    let header = "send `Authorization: Bearer <token>`";
    if let Some(token) = &config.bootstrap_token {
        if store.bootstrap_platform_admin(&token.0).await? {
            tracing::info!("created the platform administrator from DITTO_BOOTSTRAP_TOKEN");
        } else {
            tracing::info!(
                "a platform administrator exists already; DITTO_BOOTSTRAP_TOKEN is not used"
            );
        }
        return Ok(Some(format!(
            "{header} with the DITTO_BOOTSTRAP_TOKEN value"
        )));
    }
    if !embedded {
        return Ok(None);
    }
    // Zero-configuration start: make a token and keep it beside the database.
    let path = config.data_dir.join(ADMIN_TOKEN_FILE);
    if !path.exists() {
        let token: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        if store.bootstrap_platform_admin(&token).await? {
            embedded_pg::write_private(&path, &token)?;
        }
    }
    Ok(path
        .exists()
        .then(|| format!("{header}; the token is in {}", display(&path))))
}

/// The master key: configured, or (embedded setup) kept in the data directory.
fn master_key(config: &Config, embedded: bool) -> Result<Option<MasterKey>> {
    if let Some(key) = &config.master_key {
        return Ok(Some(key.clone()));
    }
    if !embedded {
        tracing::warn!("no DITTO_MASTER_KEY: backends with credentials cannot be created or used");
        return Ok(None);
    }
    let path = config.data_dir.join(MASTER_KEY_FILE);
    if !path.exists() {
        embedded_pg::write_private(&path, &MasterKey::generate_base64())?;
    }
    let encoded =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", display(&path)))?;
    let key =
        MasterKey::from_base64(&encoded).map_err(|e| anyhow::anyhow!("{}: {e}", display(&path)))?;
    Ok(Some(key))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
