//! A write-only secret stays bound to where it is sent. Whoever may edit a
//! backend, an SSO connection or an export destination but never saw its
//! secret must not be able to point it elsewhere and receive the secret
//! there: changing the destination of a resource that holds a secret needs
//! the secret again, or its removal.

use crate::{Error, Result};

/// What a change to a secret-holding resource does.
pub struct Rebinding<'a> {
    /// The request field that holds the secret (`/credentials`).
    pub secret_field: &'a str,
    /// The field naming the destination (`base_url`), for the message.
    pub destination: &'a str,
    /// Whether the change moves the destination.
    pub moves: bool,
    /// Whether the resource holds a secret now.
    pub holds_secret: bool,
    /// Whether the change gives a new secret or removes it.
    pub replaces_secret: bool,
}

impl Rebinding<'_> {
    /// 422 naming the secret's field when the destination moves and the
    /// stored secret would go with it.
    pub fn check(&self) -> Result<()> {
        if self.moves && self.holds_secret && !self.replaces_secret {
            return Err(Error::invalid(
                self.secret_field,
                "secret_required",
                format!(
                    "changing `{}` would send the stored secret somewhere new: give the secret \
                     again in the same change, or remove it",
                    self.destination
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(moves: bool, holds_secret: bool, replaces_secret: bool) -> Result<()> {
        Rebinding {
            secret_field: "/credentials",
            destination: "base_url",
            moves,
            holds_secret,
            replaces_secret,
        }
        .check()
    }

    #[test]
    fn only_moving_a_held_secret_without_giving_it_again_is_refused() {
        assert!(change(true, true, false).is_err());
        assert!(change(true, true, true).is_ok());
        assert!(change(true, false, false).is_ok());
        assert!(change(false, true, false).is_ok());
    }
}
