//! Local sign-in, sessions, second factor and personal access tokens.

use super::*;

/// Sign in with a password. A user who enrolled a second factor also sends
/// `totp_code` (or one `recovery_code`).
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The tenant's slug.
    pub tenant: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("tenant", &self.tenant)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// How a session was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    Password,
    PasswordTotp,
    PasswordRecoveryCode,
    Oidc,
    Saml,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::PasswordTotp => "password_totp",
            Self::PasswordRecoveryCode => "password_recovery_code",
            Self::Oidc => "oidc",
            Self::Saml => "saml",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Password,
            Self::PasswordTotp,
            Self::PasswordRecoveryCode,
            Self::Oidc,
            Self::Saml,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A signed-in browser session.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub method: SignInMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the session ends if it stays idle.
    pub idle_expires_at: DateTime<Utc>,
    /// When the session ends however active it is.
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether this is the session making the request.
    pub current: bool,
}

page_type!(SessionPage, Session);

/// The answer to a successful sign-in. The session itself travels in the
/// `ditto_session` cookie (HttpOnly); state-changing requests made with it
/// must send `csrf_token` in the `x-csrf-token` header.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    pub session: Session,
    pub csrf_token: String,
    pub tenant_id: TenantId,
    /// An administrator set the password: the user should choose a new one.
    pub must_change_password: bool,
    /// Unused recovery codes left, when the second factor is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes_left: Option<u32>,
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// An administrator's reset of a user's password. The user's sessions end.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
    /// Ask the user to choose a new password after signing in (default true).
    #[serde(default)]
    pub must_change: Option<bool>,
}

/// How a user signs in, as an administrator sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SignInState {
    pub has_password: bool,
    pub must_change_password: bool,
    pub totp_enabled: bool,
    pub failed_attempts: u32,
    /// Sign-in is refused until then after too many failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_changed_at: Option<DateTime<Utc>>,
}

/// A second factor waiting for its first code. Show the URI as a QR code.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
}

/// A TOTP code (or, where accepted, a recovery code).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// Single-use recovery codes. Shown only in this response.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

/// A personal access token: a bearer token acting as its user, limited to
/// `permissions` when given.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonalAccessToken {
    pub id: AccessTokenId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// What the token is limited to (within what its user may do); absent:
    /// everything the user may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

page_type!(PersonalAccessTokenPage, PersonalAccessToken);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePersonalAccessToken {
    /// 1–100 characters.
    pub name: String,
    /// When the token stops working: in the future, at most a year away.
    pub expires_at: DateTime<Utc>,
    /// Limit the token to these permissions, each of which you must hold.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedPersonalAccessToken {
    pub token: PersonalAccessToken,
    /// The bearer token. Shown only in this response; store it now.
    pub secret: String,
}

/// How many sessions a revocation ended.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedSessions {
    pub revoked: u64,
}
