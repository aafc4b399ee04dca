//! Authorization codes: issued for an active authorisation, with the use journaled.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::interactions::{Interaction, InteractionStatus};
use super::CODE_SECONDS;
use crate::accounts::Acting;
use crate::crypto::{new_token, sha256_hex};
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mandates;
use crate::store::schema::{authorization_codes, oidc_interactions};
use crate::store::DbConn;

/// Issues a code for the chosen démarche and journals the use, in the caller's
/// transaction. None: the démarche is not active for the chosen usager in the aidant's
/// current structure, or the interaction already gave its code.
pub fn issue_code(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    i: &Interaction,
    aidant: &Acting,
    demarche: &str,
    auth_time: NaiveDateTime,
) -> Result<Option<String>, Error> {
    let Some(usager_id) = i.usager_id.clone() else {
        return Ok(None);
    };
    let (aidant_id, structure_id) = (&aidant.user_id, &aidant.structure_id);
    let Some(u) = mandates::usable_authorisations(conn, now, structure_id, &usager_id)?
        .into_iter()
        .find(|u| u.demarche == demarche)
    else {
        return Ok(None);
    };
    // One code per authorization request: closing the interaction is the guard against a
    // double submission.
    let claimed = diesel::update(
        oidc_interactions::table
            .filter(oidc_interactions::id.eq(&i.id))
            .filter(oidc_interactions::status.eq(InteractionStatus::Pending.as_str())),
    )
    .set(oidc_interactions::status.eq(InteractionStatus::Done.as_str()))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(None);
    }
    let code = new_token();
    let code_hash = sha256_hex(code.as_bytes());
    diesel::insert_into(authorization_codes::table)
        .values((
            authorization_codes::code_hash.eq(&code_hash),
            authorization_codes::client_id.eq(&i.request.client_id),
            authorization_codes::redirect_uri.eq(&i.request.redirect_uri),
            authorization_codes::code_challenge.eq(&i.request.code_challenge),
            authorization_codes::nonce.eq(&i.request.nonce),
            authorization_codes::scope.eq(&i.request.scope),
            authorization_codes::claims.eq(&i.claims),
            authorization_codes::aidant_id.eq(aidant_id),
            authorization_codes::structure_id.eq(structure_id),
            authorization_codes::usager_id.eq(&usager_id),
            authorization_codes::authorisation_id.eq(&u.authorisation_id),
            authorization_codes::demarche.eq(demarche),
            authorization_codes::auth_time.eq(auth_time),
            authorization_codes::created_at.eq(now.naive_utc()),
            authorization_codes::expires_at.eq((now + Duration::seconds(CODE_SECONDS)).naive_utc()),
        ))
        .execute(conn)?;
    let used = journal::append(
        conn,
        now,
        NewEntry::new("mandate.used")
            .actor(aidant.actor())
            .structure(structure_id)
            .usager(&usager_id)
            .mandate(&u.mandate_id)
            .authorisation(&u.authorisation_id)
            .client(&i.request.client_id)
            .detail("demarche", demarche)
            .detail("scope", i.request.scope.as_str()),
    )?;
    crate::notify::mandate_used(conn, now, &used)?;
    Ok(Some(code))
}

/// Deletes codes expired before `before` (housekeeping).
pub fn purge_codes(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.lt(before)))
        .execute(conn)
}
