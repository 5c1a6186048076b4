//! The users writes are made by: each one's profile, stored the first time they write.

use super::Error;
use crate::domain::{Principal, UserProfile};
use crate::repo::UserRepository;

/// The profile of a user, stored the first time they write: the stored one, not the one this
/// token's claims would make, so that every route shows the same creator name.
pub(super) async fn remember(users: &dyn UserRepository, principal: &Principal) -> Result<UserProfile, Error> {
    let profile = UserProfile::first_seen(&principal.user_id, principal.name.as_deref(), principal.email.as_deref());
    Ok(users.create_if_absent(&profile).await?)
}
