//! Save-time checks of URLs a tenant chooses, against the platform's one
//! egress policy (`ditto_egress`). Connections are checked again on their
//! resolved address when they are made; this check gives the tenant a clear
//! 422 at once instead of a failure later.

use ditto_core::{Error, Result};

use crate::AppState;

impl AppState {
    /// 422 `destination_not_allowed` on `field` when `url` leads somewhere
    /// the policy refuses (an internal address, or this server).
    pub(crate) async fn check_destination(&self, field: &str, url: &str) -> Result<()> {
        self.egress
            .check_url(url)
            .await
            .map_err(|refusal| Error::invalid(field, "destination_not_allowed", refusal.0))
    }
}
