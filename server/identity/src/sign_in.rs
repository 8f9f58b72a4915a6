//! The local sign-in flow and second-factor management, over the store.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ditto_core::crypto::MasterKey;
use ditto_core::secrets::sha256;
use ditto_core::{Error, Result, TenantScope};
use ditto_store::Store;
use ditto_store::sign_in::{NewSession, SignInAccount};
use ditto_store::sign_in_sources::{AttemptSource, KnownAccount, SourceStanding};
use ditto_types::api::{
    RecoveryCodes, SignIn, SignInMethod, SignedIn, TenantStatus, TotpEnrolment,
};
use ditto_types::{SessionId, UserId};

use crate::egress::ProviderAccess;
use crate::password::{MAX_PASSWORD_BYTES, Passwords};
use crate::public_url::PublicUrl;
use crate::session::{SessionPolicy, SessionSecrets};
use crate::totp;

/// When repeated failures from one source lock it out of an account, and
/// for how long. Other sources are not locked out: a stranger's guesses
/// cannot lock an owner out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a sign-in was refused. Wrong email, wrong password and an unknown
/// tenant all read the same, so the answer does not tell which exist.
#[derive(Debug)]
pub enum SignInError {
    InvalidCredentials,
    /// The password was right; the second factor is needed too.
    SecondFactorRequired,
    LockedOut {
        until: DateTime<Utc>,
    },
    /// The password was right, but the tenant enforces single sign-on and
    /// this user is not one of its break-glass owners. Where to sign in
    /// instead: (connection name, login URL).
    SsoRequired {
        login_urls: Vec<(String, String)>,
    },
    Other(Error),
}

impl From<Error> for SignInError {
    fn from(e: Error) -> Self {
        Self::Other(e)
    }
}

/// Where a request came from, kept with the session.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A sign-in attempt's account and source, and where that source stands
/// with the account, before any password is checked.
#[derive(Debug)]
pub struct Attempt {
    source: AttemptSource,
    standing: SourceStanding,
}

impl Attempt {
    /// The source has signed in to this account before (recently).
    pub fn from_known_source(&self) -> bool {
        self.standing.known
    }
}

/// The source a lockout counts for a client address: the address itself,
/// an IPv6 client by its /64 network (one subscriber's usual allocation,
/// so a client cannot step through its own addresses).
fn lockout_source(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let network = u128::from(v6) & !(u128::MAX >> 64);
            format!("{}/64", Ipv6Addr::from(network))
        }
        Some(v4) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Local sign-in and what goes with it.
#[derive(Clone, Debug)]
pub struct Identity {
    pub passwords: Passwords,
    pub sessions: SessionPolicy,
    pub lockout: LockoutPolicy,
    /// `DITTO_PUBLIC_URL`: absolute URLs we hand out are built from it.
    pub public_url: Option<PublicUrl>,
    /// How identity providers are reached (the guard against requests to
    /// private addresses).
    pub providers: ProviderAccess,
}

const MAX_FIELD_CHARS: usize = 254;

impl Identity {
    /// Where an attempt to sign in to the account `request` names stands
    /// for the source `client` is: looked up before anything else, so the
    /// per-account throttle can spare sources the account knows.
    pub async fn attempt(
        &self,
        store: &Store,
        request: &SignIn,
        client: &Client,
    ) -> Result<Attempt> {
        let source = AttemptSource {
            tenant_slug: truncated(request.tenant.trim()),
            email: truncated(request.email.trim()),
            source: lockout_source(client.ip),
        };
        let standing = store.sign_in_standing(&source).await?;
        Ok(Attempt { source, standing })
    }

    /// Checks credentials and starts a session. `replaces` is the digest of
    /// the session token the browser already held: it ends, so a session id
    /// planted before sign-in never becomes an authenticated one. A source
    /// locked out of the account is refused before its password is looked
    /// at; an unknown account counts failures and locks out exactly like a
    /// known one.
    pub async fn sign_in(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        request: &SignIn,
        client: Client,
        replaces: Option<[u8; 32]>,
        attempt: Attempt,
    ) -> std::result::Result<(SignedIn, SessionSecrets), SignInError> {
        if let Some(until) = attempt.standing.locked_until {
            return Err(SignInError::LockedOut { until });
        }
        if request.tenant.len() > MAX_FIELD_CHARS
            || request.email.len() > MAX_FIELD_CHARS
            || request.password.len() > MAX_PASSWORD_BYTES
        {
            return Err(self.failure(store, &attempt, None, "invalid").await);
        }
        let account = store
            .sign_in_account(request.tenant.trim(), &request.email)
            .await?;
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let password_ok = self
            .passwords
            .verify(&request.password, hash.as_deref())
            .await?;
        let Some(account) = account else {
            tracing::info!(target: "ditto::auth", "sign-in refused: unknown tenant or email");
            return Err(self.failure(store, &attempt, None, "unknown_account").await);
        };
        if !password_ok {
            return Err(self
                .failure(store, &attempt, Some(&account), "password")
                .await);
        }
        if !account.active {
            return Err(self
                .failure(store, &attempt, Some(&account), "user_disabled")
                .await);
        }
        if account.tenant.status == TenantStatus::Suspended {
            return Err(Error::Forbidden("this tenant is suspended".into()).into());
        }
        // Checked only once the password is right, so the answer tells
        // nobody without it whether an account exists or may bypass SSO.
        let policy = store
            .password_policy(account.tenant.id, account.user_id)
            .await?;
        if policy.sso_enforced && !policy.break_glass_owner {
            tracing::info!(target: "ditto::auth", user = %account.user_id, "password sign-in refused: the tenant enforces SSO");
            let login_urls = policy
                .connections
                .into_iter()
                .filter_map(|(id, name, protocol)| {
                    crate::discovery::login_url(&protocol, id).map(|(_, url)| (name, url))
                })
                .collect();
            return Err(SignInError::SsoRequired { login_urls });
        }
        let break_glass = policy.sso_enforced;

        let mut method = SignInMethod::Password;
        let (mut totp_step, mut recovery_code_hash) = (None, None);
        if let Some(enabled) = &account.totp {
            match (&request.totp_code, &request.recovery_code) {
                (Some(code), _) => {
                    let secret = open_secret(master_key, account.user_id, &enabled.sealed_secret)?;
                    let step =
                        totp::verify(&secret, code, Utc::now().timestamp(), enabled.last_step);
                    let Some(step) = step else {
                        return Err(self.failure(store, &attempt, Some(&account), "totp").await);
                    };
                    totp_step = Some(step);
                    method = SignInMethod::PasswordTotp;
                }
                (None, Some(code)) => {
                    recovery_code_hash =
                        Some(sha256(totp::normalize_recovery_code(code).as_bytes()));
                    method = SignInMethod::PasswordRecoveryCode;
                }
                (None, None) => return Err(SignInError::SecondFactorRequired),
            }
        }

        let secrets = SessionSecrets::mint();
        let rehashed_password = match hash.as_deref() {
            Some(h) if self.passwords.needs_rehash(h) => {
                Some(self.passwords.hash(&request.password).await?)
            }
            _ => None,
        };
        let (source_ip, user_agent) = (client.ip, client.user_agent.clone());
        let opened = store
            .open_session(NewSession {
                tenant_id: account.tenant.id,
                user_id: account.user_id,
                token_hash: secrets.token_hash,
                csrf_hash: secrets.csrf_hash,
                method,
                idle_timeout_secs: self.sessions.idle_secs(),
                absolute_timeout_secs: self.sessions.absolute_secs(),
                source_ip: client.ip.map(|ip| ip.to_string()),
                user_agent: client.user_agent,
                totp_step,
                recovery_code_hash,
                replaces,
                rehashed_password,
                sso_connection: None,
                source: Some(attempt.source.clone()),
            })
            .await;
        let session = match opened {
            Ok(session) => session,
            // The code was spent meanwhile, or the recovery code is not one.
            Err(Error::Conflict(_)) => {
                return Err(self
                    .failure(store, &attempt, Some(&account), "second_factor")
                    .await);
            }
            Err(e) => return Err(e.into()),
        };
        if break_glass {
            let recorded = store
                .record_break_glass_sign_in(
                    account.tenant.id,
                    account.user_id,
                    session.id,
                    source_ip.map(|ip| ip.to_string()).as_deref(),
                    user_agent.as_deref(),
                )
                .await;
            // A break-glass sign-in that left no trace must not stand.
            if let Err(e) = recorded {
                store.close_session(&secrets.token_hash).await?;
                return Err(e.into());
            }
            tracing::warn!(target: "ditto::auth", user = %account.user_id, tenant = %account.tenant.id, "break-glass password sign-in while SSO is enforced");
        }
        let recovery_codes_left = account.totp.as_ref().map(|_| {
            account
                .recovery_codes_left
                .saturating_sub(u32::from(recovery_code_hash.is_some()))
        });
        Ok((
            SignedIn {
                session,
                csrf_token: secrets.csrf.0.clone(),
                tenant_id: account.tenant.id,
                must_change_password: account.must_change_password,
                recovery_codes_left,
            },
            secrets,
        ))
    }

    async fn failure(
        &self,
        store: &Store,
        attempt: &Attempt,
        account: Option<&SignInAccount>,
        reason: &str,
    ) -> SignInError {
        let known = account.map(|a| KnownAccount {
            tenant: a.tenant.id,
            user: a.user_id,
        });
        let recorded = store
            .record_sign_in_failure(
                &attempt.source,
                known,
                reason,
                self.lockout.max_failures,
                i64::try_from(self.lockout.lockout.as_secs()).unwrap_or(i64::MAX),
            )
            .await;
        match recorded {
            Ok(Some(until)) => SignInError::LockedOut { until },
            Ok(None) => SignInError::InvalidCredentials,
            Err(e) => SignInError::Other(e),
        }
    }

    /// Sets a new password after checking it against the policy.
    pub async fn set_password(
        &self,
        store: &Store,
        scope: &TenantScope,
        user: UserId,
        password: &str,
        must_change: bool,
        keep: Option<SessionId>,
    ) -> Result<u64> {
        let email = store.get_user(scope, user).await?.email;
        self.passwords.check_policy(password, &email, "/password")?;
        let phc = self.passwords.hash(password).await?;
        store
            .set_password(scope, user, &phc, must_change, keep)
            .await
    }

    /// A user changing their own password proves they know the current one.
    pub async fn change_password(
        &self,
        store: &Store,
        scope: &TenantScope,
        user: UserId,
        current: &str,
        new: &str,
        keep: Option<SessionId>,
    ) -> Result<u64> {
        let hash = store.password_hash(scope, user).await?;
        if hash.is_none() || !self.passwords.verify(current, hash.as_deref()).await? {
            return Err(Error::invalid(
                "/current_password",
                "incorrect",
                "the current password is not correct",
            ));
        }
        if current == new {
            return Err(Error::invalid(
                "/new_password",
                "unchanged",
                "choose a password different from the current one",
            ));
        }
        let email = store.get_user(scope, user).await?.email;
        self.passwords.check_policy(new, &email, "/new_password")?;
        let phc = self.passwords.hash(new).await?;
        store.set_password(scope, user, &phc, false, keep).await
    }

    /// Starts enrolling a second factor: a new secret, shown once.
    pub async fn begin_totp(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        scope: &TenantScope,
        user: UserId,
        issuer: &str,
    ) -> Result<TotpEnrolment> {
        let key = master_key.ok_or_else(no_master_key)?;
        let email = store.get_user(scope, user).await?.email;
        let secret = totp::new_secret();
        store
            .begin_totp(scope, user, &key.encrypt(&secret, user.0.as_bytes()))
            .await?;
        Ok(TotpEnrolment {
            secret: totp::base32(&secret),
            otpauth_uri: totp::provisioning_uri(&secret, issuer, &email),
        })
    }

    /// Checks a code against the user's TOTP secret; the step it used.
    async fn check_code(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        scope: &TenantScope,
        user: UserId,
        code: &str,
        want_enabled: bool,
    ) -> Result<i64> {
        let Some((sealed, enabled, last_step)) = store.totp_secret(scope, user).await? else {
            return Err(Error::Conflict(if want_enabled {
                "no second factor is enabled".into()
            } else {
                "start the enrolment first (POST /api/v1/me/totp)".into()
            }));
        };
        if enabled != want_enabled {
            return Err(Error::Conflict(if enabled {
                "a second factor is already enabled".into()
            } else {
                "no second factor is enabled".into()
            }));
        }
        let secret = open_secret(master_key, user, &sealed)?;
        totp::verify(&secret, code, Utc::now().timestamp(), last_step).ok_or_else(|| {
            Error::invalid(
                "/code",
                "incorrect",
                "the code is not correct or was already used",
            )
        })
    }

    /// Enables the pending second factor with its first code; returns the
    /// recovery codes, shown once.
    pub async fn confirm_totp(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        scope: &TenantScope,
        user: UserId,
        code: &str,
    ) -> Result<RecoveryCodes> {
        let step = self
            .check_code(store, master_key, scope, user, code, false)
            .await?;
        self.store_recovery_codes(store, scope, user, step).await
    }

    /// Replaces the recovery codes, proven with a current TOTP code.
    pub async fn regenerate_recovery_codes(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        scope: &TenantScope,
        user: UserId,
        code: &str,
    ) -> Result<RecoveryCodes> {
        let step = self
            .check_code(store, master_key, scope, user, code, true)
            .await?;
        self.store_recovery_codes(store, scope, user, step).await
    }

    async fn store_recovery_codes(
        &self,
        store: &Store,
        scope: &TenantScope,
        user: UserId,
        step: i64,
    ) -> Result<RecoveryCodes> {
        let codes = totp::new_recovery_codes();
        let hashes: Vec<[u8; 32]> = codes
            .iter()
            .map(|c| sha256(totp::normalize_recovery_code(c).as_bytes()))
            .collect();
        store.confirm_totp(scope, user, step, &hashes).await?;
        Ok(RecoveryCodes { codes })
    }

    /// Turns the user's own second factor off, proven with a TOTP code or a
    /// recovery code.
    pub async fn disable_totp(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        scope: &TenantScope,
        user: UserId,
        code: &str,
    ) -> Result<()> {
        let by_totp = self
            .check_code(store, master_key, scope, user, code, true)
            .await;
        match by_totp {
            Ok(_) => {}
            Err(Error::Validation(errors)) => {
                let hash = sha256(totp::normalize_recovery_code(code).as_bytes());
                if !store.spend_recovery_code(scope, user, &hash).await? {
                    return Err(Error::Validation(errors));
                }
            }
            Err(e) => return Err(e),
        }
        store.disable_totp(scope, user).await
    }
}

/// A field cut to what the lockout keeps: longer ones never name an
/// account, and are refused anyway.
fn truncated(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

fn no_master_key() -> Error {
    Error::Unavailable("second factors are sealed with the master key; set DITTO_MASTER_KEY".into())
}

fn open_secret(master_key: Option<&MasterKey>, user: UserId, sealed: &[u8]) -> Result<Vec<u8>> {
    master_key
        .ok_or_else(no_master_key)?
        .decrypt(sealed, user.0.as_bytes())
}
