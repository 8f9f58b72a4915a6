//! A private PostgreSQL for the zero-configuration start: the system's own
//! server binaries run a cluster in the data directory, listening only on
//! 127.0.0.1 with a generated password. Postgres refuses to run as root, so
//! under root the server runs as the `postgres` (or `nobody`) user.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, anyhow, bail};
use nix::unistd::{Uid, User};
use rand::Rng;
use rand::distr::Alphanumeric;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::process::Command;

const SUPERUSER: &str = "ditto";
const DATABASE: &str = "ditto";

pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    run_as: Option<User>,
    port: u16,
    password: String,
}

impl EmbeddedPostgres {
    /// Initializes the cluster on first use, starts it (or adopts one left
    /// running), and makes sure the `ditto` database exists.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let pgdata = data_dir.join("postgres");
        let run_as = unprivileged_user()?;
        if let Some(user) = &run_as {
            check_reachable(&pgdata, user)?;
        }
        let password_file = data_dir.join("postgres-password");
        let mut pg = Self {
            bin_dir,
            pgdata,
            run_as,
            port: 0,
            password: String::new(),
        };
        if !pg.pgdata.join("PG_VERSION").exists() {
            pg.password = rand::rng()
                .sample_iter(Alphanumeric)
                .take(32)
                .map(char::from)
                .collect();
            pg.init(&data_dir).await?;
            write_private(&password_file, &pg.password)?;
        } else {
            pg.password = std::fs::read_to_string(&password_file)
                .with_context(|| {
                    format!(
                        "the embedded database's password file {} is missing",
                        password_file.display()
                    )
                })?
                .trim()
                .to_owned();
        }
        match pg.running_port()? {
            Some(port) if pg.pg_ctl(&["status"]).await.is_ok() => {
                tracing::info!(
                    port,
                    "adopting the embedded Postgres left running by an earlier start"
                );
                pg.port = port;
            }
            _ => {
                pg.port = free_port()?;
                pg.launch().await?;
            }
        }
        pg.ensure_database().await?;
        Ok(pg)
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        self.options(DATABASE)
    }

    fn options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.password)
            .database(database)
    }

    pub fn data_dir(&self) -> &Path {
        &self.pgdata
    }

    /// Stops the server, waiting for it to shut down cleanly.
    pub async fn stop(&self) -> Result<()> {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]).await
    }

    async fn init(&self, data_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(&self.pgdata)?;
        std::fs::set_permissions(&self.pgdata, std::fs::Permissions::from_mode(0o700))?;
        let pwfile = data_dir.join(".initdb-password");
        write_private(&pwfile, &self.password)?;
        if let Some(user) = &self.run_as {
            chown(
                &self.pgdata,
                Some(user.uid.as_raw()),
                Some(user.gid.as_raw()),
            )?;
            chown(&pwfile, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
        }
        let result = self
            .run(
                "initdb",
                &[
                    "-D".as_ref(),
                    self.pgdata.as_os_str(),
                    "-U".as_ref(),
                    SUPERUSER.as_ref(),
                    "--pwfile".as_ref(),
                    pwfile.as_os_str(),
                    "--auth=scram-sha-256".as_ref(),
                    "--encoding=UTF8".as_ref(),
                    "--no-locale".as_ref(),
                ],
            )
            .await;
        let _ = std::fs::remove_file(&pwfile);
        result.context("initdb failed")
    }

    async fn launch(&self) -> Result<()> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories=''",
            self.port
        );
        let log = self.pgdata.join("server.log");
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            &log.to_string_lossy(),
            "-o",
            &options,
        ])
        .await
        .with_context(|| format!("the embedded Postgres did not start; see {}", log.display()))
    }

    async fn ensure_database(&self) -> Result<()> {
        let mut conn = self
            .options("postgres")
            .disable_statement_logging()
            .connect()
            .await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(())
    }

    /// The port in postmaster.pid, if a server seems to be running.
    fn running_port(&self) -> Result<Option<u16>> {
        match std::fs::read_to_string(self.pgdata.join("postmaster.pid")) {
            Ok(pid_file) => Ok(pid_file.lines().nth(3).and_then(|l| l.trim().parse().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let mut full: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        full.push("-D".as_ref());
        full.push(self.pgdata.as_os_str());
        self.run("pg_ctl", &full).await
    }

    async fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .args(args)
            .current_dir(&self.pgdata)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C on our terminal must not stop
            // the database before we have shut down cleanly.
            .process_group(0);
        if let Some(user) = &self.run_as {
            command
                .uid(user.uid.as_raw())
                .gid(user.gid.as_raw())
                .env("HOME", &self.pgdata);
        }
        let output = command
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.bin_dir.join(program).display()))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        Err(anyhow!(
            "{program} exited with {}: {}{}",
            output.status,
            stderr.trim(),
            stdout.trim()
        ))
    }
}

/// The directory with initdb, pg_ctl and postgres: on PATH, or the newest
/// under /usr/lib/postgresql/*/bin (Debian and Ubuntu keep them there).
fn find_bin_dir() -> Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_all(d))
    {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).ok_or_else(|| {
        anyhow!(
            "no DATABASE_URL was given, and the PostgreSQL server programs (initdb, pg_ctl, postgres) \
             were not found on PATH or under /usr/lib/postgresql/*/bin.\n\
             Install them (Debian/Ubuntu: `sudo apt-get install -y postgresql`; Fedora: \
             `sudo dnf install -y postgresql-server`; macOS: `brew install postgresql`), \
             or set DATABASE_URL to an existing database."
        )
    })
}

/// Under root, the user that runs Postgres.
fn unprivileged_user() -> Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(user) = User::from_name(name)? {
            return Ok(Some(user));
        }
    }
    bail!(
        "running as root, and neither a `postgres` nor a `nobody` user exists to run the embedded Postgres"
    )
}

/// Fails early, with advice, when `user` cannot reach `pgdata`.
fn check_reachable(pgdata: &Path, user: &User) -> Result<()> {
    for dir in pgdata.ancestors().skip(1) {
        let meta = std::fs::metadata(dir)?;
        let mode = meta.permissions().mode();
        let searchable = mode & 0o001 != 0
            || (std::os::unix::fs::MetadataExt::uid(&meta) == user.uid.as_raw()
                && mode & 0o100 != 0);
        if !searchable {
            bail!(
                "the embedded Postgres runs as the unprivileged user `{}` (Postgres refuses root), \
                 but it cannot enter {}. Set DITTO_DATA_DIR to a directory it can reach \
                 (e.g. /var/lib/ditto), or run ditto as a regular user.",
                user.name,
                dir.display()
            );
        }
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    Ok(())
}
