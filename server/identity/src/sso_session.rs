//! The end every single sign-on shares, whatever the protocol: once the
//! provider's answer is verified, the account is found, linked or created
//! and its mapped roles kept in step (`Store::sso_account`), then a session
//! opens exactly as a password sign-in's, with the connection's protocol
//! as the method.

use ditto_store::Store;
use ditto_store::sign_in::NewSession;
use ditto_store::sso::{SsoLoginConnection, SsoRefusal, SsoSubject};
use ditto_types::api::{SignInMethod, SsoProtocol};

use crate::session::SessionSecrets;
use crate::sso::{SsoError, SsoErrorKind};
use crate::{Client, Identity};

impl Identity {
    /// Signs `who` in through `connection`. `replaces` is the digest of the
    /// session token the browser already held (it ends).
    pub async fn open_sso_session(
        &self,
        store: &Store,
        connection: &SsoLoginConnection,
        who: &SsoSubject,
        client: Client,
        replaces: Option<[u8; 32]>,
    ) -> Result<SessionSecrets, SsoError> {
        let user = match store.sso_account(connection, who).await? {
            Ok(user) => user,
            Err(refusal) => {
                tracing::info!(target: "ditto::auth", connection = %connection.id, ?refusal, "SSO sign-in refused");
                return Err(SsoError {
                    kind: SsoErrorKind::AccessDenied,
                    detail: refusal_detail(&refusal).to_owned(),
                    error: None,
                });
            }
        };
        let secrets = SessionSecrets::mint();
        store
            .open_session(NewSession {
                tenant_id: connection.tenant.id,
                user_id: user,
                token_hash: secrets.token_hash,
                csrf_hash: secrets.csrf_hash,
                method: match connection.protocol {
                    SsoProtocol::Oidc => SignInMethod::Oidc,
                    SsoProtocol::Saml => SignInMethod::Saml,
                },
                idle_timeout_secs: self.sessions.idle_secs(),
                absolute_timeout_secs: self.sessions.absolute_secs(),
                source_ip: client.ip.map(|ip| ip.to_string()),
                user_agent: client.user_agent,
                totp_step: None,
                recovery_code_hash: None,
                replaces,
                rehashed_password: None,
                sso_connection: Some(connection.id),
                source: None,
            })
            .await?;
        Ok(secrets)
    }
}

/// Why a verified subject may not sign in, in words safe to show.
pub fn refusal_detail(refusal: &SsoRefusal) -> &'static str {
    match refusal {
        SsoRefusal::NoAccount => {
            "there is no account for you in this tenant; ask an administrator to add you"
        }
        SsoRefusal::EmailNotVerified => {
            "an account has this email, but the identity provider has not verified the email, so it cannot be linked"
        }
        SsoRefusal::EmailDomainNotVerified => {
            "an account has this email, but its domain is not one this tenant has verified, so a sign-in connection cannot claim it; sign in as before, or ask an administrator to verify the domain"
        }
        SsoRefusal::BeyondConnection => {
            "this account holds more than this sign-in connection may give (it was last saved by someone who could not grant all of it); sign in another way, or ask an owner to save the connection"
        }
        SsoRefusal::NoEmail => "the identity provider sent no email address",
        SsoRefusal::UserDisabled => "this account is disabled",
        SsoRefusal::TenantSuspended => "this tenant is suspended",
    }
}
