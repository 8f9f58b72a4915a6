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
