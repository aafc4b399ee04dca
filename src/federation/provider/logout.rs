//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use chrono::{DateTime, Duration, Utc};

use super::claims::pairwise;
use super::clients::client;
use super::keys::{published_keys, KeyCache};
use crate::accounts::sessions::{self, Policy};
use crate::crypto::SecretBox;
use crate::error::Error;
use crate::federation::jose::{single_audience, verify_jwt};
use crate::store::{write_tx, DbConn};

/// A logout request, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LogoutParams {
    /// One of our ID tokens (signature checked; expiry does not matter).
    pub id_token_hint: Option<String>,
    /// Where to go afterwards (registered for the hinted client).
    pub post_logout_redirect_uri: Option<String>,
    /// Client state, sent back.
    pub state: Option<String>,
    /// The client, when no hint is given.
    pub client_id: Option<String>,
}

/// What the end-session endpoint does.
#[derive(Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// A logged-in aidant and no valid hint: a third-party link must not end the session
    /// silently, so ask first.
    Confirm,
    /// The session ended; go to this registered URI (or show the logged-out page).
    Ended(Option<String>),
}

/// The end-session endpoint's use case, in one transaction. `confirmed`: the aidant
/// confirmed on our page (POST), so no hint is needed. A hint ends a logged-in session
/// without asking only when it was issued to that session's aidant (its `act` names
/// them): a token of another aidant, which any site that ever received one holds, asks.
#[allow(clippy::too_many_arguments)]
pub fn end_session(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    policy: &Policy,
    secrets: &SecretBox,
    keys: &KeyCache,
    grace: Duration,
    master: Option<&[u8; 32]>,
    token: Option<&str>,
    p: &LogoutParams,
    confirmed: bool,
) -> Result<LogoutOutcome, Error> {
    write_tx(conn, |c| {
        let visitor = sessions::resolve_read(c, now, policy, token)?;
        let hint = match &p.id_token_hint {
            Some(t) => {
                let published = published_keys(c, now, secrets, keys, grace)?;
                verify_jwt(t, &published).and_then(|claims| {
                    let aud = single_audience(&claims)?.to_string();
                    let act = claims["act"]["sub"].as_str().map(str::to_string);
                    Some((aud, act))
                })
            }
            None => None,
        };
        let aud = hint.as_ref().map(|(aud, _)| aud.clone());
        let valid = aud.is_some();
        let user = visitor.as_ref().and_then(|v| v.user.as_ref());
        let same_aidant = match (&hint, user, master) {
            (Some((aud, Some(act))), Some(u), Some(m)) => *act == pairwise(m, "aidant", aud, &u.id),
            _ => false,
        };
        if user.is_some() && !same_aidant && !confirmed {
            return Ok(LogoutOutcome::Confirm);
        }
        let client_id = aud.or(p.client_id.clone().filter(|_| p.id_token_hint.is_none()));
        let target = match (client_id, &p.post_logout_redirect_uri) {
            (Some(cid), Some(uri)) if valid => client(c, &cid)?
                .filter(|cl| cl.post_logout_redirects().contains(uri))
                .map(|_| uri.clone()),
            _ => None,
        };
        if let Some(v) = &visitor {
            sessions::logout_in(c, now, v, Some("end_session_endpoint"))?;
        }
        Ok(LogoutOutcome::Ended(target))
    })
}
