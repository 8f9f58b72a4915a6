//! SAML 2.0 single sign-on for a tenant's staff, on `samael` (which links
//! libxmlsec1 and libxml2 through bindgen): kept in its own crate so only
//! the server links it. Reading and checking a provider's metadata and
//! writing ours ([`metadata`]), verifying a response ([`response`]), and
//! the sign-in from the AuthnRequest to the session ([`login`]).

pub mod login;
pub mod metadata;
pub mod response;
