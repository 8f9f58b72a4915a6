//! Who staff are and how they prove it: password hashing and policy,
//! TOTP second factors, browser sessions with their cookies and CSRF
//! tokens, and the sign-in flow that ties them to the store.

pub mod discovery;
pub mod egress;
pub mod password;
pub mod public_url;
pub mod session;
pub mod sign_in;
pub mod sso;
pub mod sso_session;
pub mod tokens;
pub mod totp;

pub use sign_in::{Attempt, Client, Identity, LockoutPolicy, SignInError};
