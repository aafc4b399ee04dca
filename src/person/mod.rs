//! The person's own side (`/moi`): their mandates and every use of them, revocation by
//! the person (the structure's managers are told by e-mail), the export of their data,
//! and remote consent ([`remote`]). The person logs in with FranceConnect in a session
//! of their own ([`sessions`]).

pub mod erase;
pub mod remote;
pub mod sessions;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};

use crate::domain::mandate::{self as rules, AuthorisationState};
use crate::domain::roles::Role;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::mandates::{self, MandateView, Usager};
use crate::store::{read_tx, write_tx, DbConn};

/// How many uses the space and the export show, newest first.
pub const USES_SHOWN: i64 = 500;

pub use crate::domain::french::short_name;

/// One use of a mandate, as the person reads it.
#[derive(Debug, Clone)]
pub struct Use {
    /// When.
    pub at: NaiveDateTime,
    /// Who (first name and initial).
    pub aidant: String,
    /// For which structure.
    pub structure: String,
    /// On which site (the OpenID client's name).
    pub site: String,
    /// Which démarche (code).
    pub demarche: String,
    /// The mandate used.
    pub mandate_id: Option<String>,
}

/// A mandate with its structure's name.
#[derive(Debug, Clone)]
pub struct Held {
    /// The mandate.
    pub view: MandateView,
    /// Its structure's name.
    pub structure: String,
}

/// What the person's space shows.
#[derive(Debug, Clone)]
pub struct Space {
    /// The usager.
    pub usager: Usager,
    /// Their mandates, newest first.
    pub mandates: Vec<Held>,
    /// The uses of their mandates, newest first.
    pub uses: Vec<Use>,
}

fn names_map(rows: Vec<(String, String)>) -> std::collections::HashMap<String, String> {
    rows.into_iter().collect()
}

fn held(conn: &mut DbConn, now: DateTime<Utc>, usager_id: &str) -> Result<Vec<Held>, Error> {
    let views = mandates::mandates_of_usager(conn, now, usager_id)?;
    let ids: Vec<&str> = views
        .iter()
        .map(|v| v.mandate.structure_id.as_str())
        .collect();
    let names = names_map(crate::accounts::structures::names(conn, &ids)?);
    Ok(views
        .into_iter()
        .map(|view| Held {
            structure: names
                .get(&view.mandate.structure_id)
                .cloned()
                .unwrap_or_default(),
            view,
        })
        .collect())
}

/// The uses of the usager's mandates, read from the journal (`mandate.used`).
fn uses_of(conn: &mut DbConn, usager_id: &str) -> Result<Vec<Use>, Error> {
    let entries = journal::browse::of_usager(conn, usager_id, &["mandate.used"], USES_SHOWN)?;
    let aidants: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            e.actor
                .as_deref()?
                .strip_prefix("user:")
                .map(str::to_string)
        })
        .collect();
    let aidant_refs: Vec<&str> = aidants.iter().map(String::as_str).collect();
    let aidant_names = names_map(crate::accounts::users::names(conn, &aidant_refs)?);
    let structure_ids: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.structure_id.as_deref())
        .collect();
    let structure_names = names_map(crate::accounts::structures::names(conn, &structure_ids)?);
    let sites: std::collections::HashMap<String, String> =
        crate::federation::provider::clients::clients(conn)?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
    Ok(entries
        .into_iter()
        .map(|e| {
            let details: Value = serde_json::from_str(&e.details).unwrap_or_default();
            let aidant = e
                .actor
                .as_deref()
                .and_then(|a| a.strip_prefix("user:"))
                .and_then(|id| aidant_names.get(id))
                .map(|n| short_name(n))
                .unwrap_or_default();
            Use {
                at: e.at,
                aidant,
                structure: e
                    .structure_id
                    .as_deref()
                    .and_then(|s| structure_names.get(s))
                    .cloned()
                    .unwrap_or_default(),
                site: e
                    .client_id
                    .as_deref()
                    .and_then(|c| sites.get(c).cloned().or_else(|| Some(c.to_string())))
                    .unwrap_or_default(),
                demarche: details["demarche"].as_str().unwrap_or_default().to_string(),
                mandate_id: e.mandate_id,
            }
        })
        .collect())
}

/// The person's space: their mandates in every structure and their uses, from one
/// snapshot.
pub fn space(conn: &mut DbConn, now: DateTime<Utc>, usager_id: &str) -> Result<Space, Error> {
    read_tx(conn, |c| {
        let usager = mandates::usager_by_id(c, usager_id)?.ok_or(Error::NotFound)?;
        Ok(Space {
            mandates: held(c, now, usager_id)?,
            uses: uses_of(c, usager_id)?,
            usager,
        })
    })
}

/// What the person revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A whole mandate (its active authorisations).
    Mandate(String),
    /// One authorisation (one démarche).
    Authorisation(String),
}

/// The usager's mandate holding `target`, and the démarche named when it is an
/// authorisation; `NotFound` when it is not theirs.
fn owned_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    usager_id: &str,
    target: &Target,
) -> Result<(Held, Option<String>), Error> {
    let found = held(conn, now, usager_id)?.into_iter().find_map(|h| {
        let demarche = match target {
            Target::Mandate(id) if *id == h.view.mandate.id => None,
            Target::Authorisation(id) => Some(
                h.view
                    .authorisations
                    .iter()
                    .find(|(a, _)| a.id == *id)?
                    .0
                    .demarche
                    .clone(),
            ),
            Target::Mandate(_) => return None,
        };
        Some((h, demarche))
    });
    found.ok_or(Error::NotFound)
}

/// What a revocation would end, for the confirmation page (read only).
pub fn owned(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    usager_id: &str,
    target: &Target,
) -> Result<(Held, Option<String>), Error> {
    read_tx(conn, |c| owned_in(c, now, usager_id, target))
}

/// Revokes, as the usager, one démarche or a whole mandate of theirs, in one
/// transaction: the structure's own revocation (journaled with actor `usager:<id>`), then
/// an e-mail to each active manager of the structure (`structure.usager_revoked`).
/// Another person's mandate or authorisation is `NotFound`, with nothing changed. `url`
/// makes an absolute URL of a path.
pub fn revoke(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    url: &dyn Fn(&str) -> String,
    usager_id: &str,
    target: &Target,
) -> Result<MandateView, Error> {
    write_tx(conn, |c| {
        let (h, demarche) = owned_in(c, now, usager_id, target)?;
        let actor = format!("usager:{usager_id}");
        let (mandate_id, structure_id) = (
            h.view.mandate.id.clone(),
            h.view.mandate.structure_id.clone(),
        );
        let after = match target {
            Target::Mandate(id) => mandates::revoke_mandate(c, now, &actor, &structure_id, id)?,
            Target::Authorisation(id) => {
                mandates::revoke_authorisation(c, now, &actor, &structure_id, id)?
            }
        };
        let label = |code: &str| {
            rules::demarche(code)
                .map(|d| d.label.to_string())
                .unwrap_or_else(|| code.to_string())
        };
        let what = match &demarche {
            Some(d) => format!("la démarche « {} » du mandat n° {mandate_id}", label(d)),
            None => {
                let ended: Vec<String> = h
                    .view
                    .authorisations
                    .iter()
                    .filter(|(_, s)| *s == AuthorisationState::Active)
                    .map(|(a, _)| label(&a.demarche))
                    .collect();
                format!(
                    "le mandat n° {mandate_id} (démarches qui étaient actives : {})",
                    ended.join(", ")
                )
            }
        };
        let u = &h.view.usager;
        let text = format!(
            "Bonjour,\n\n\
             {given} {family} a révoqué depuis son espace personnel Procura, le {at}, {what}.\n\n\
             Les aidants de la structure {structure} ne peuvent plus agir en son nom pour ces démarches. \
             Si la personne a encore besoin d’aide, un nouveau mandat devra être créé avec elle.\n\n\
             Ses mandats : {link}",
            given = u.given_name,
            family = u.family_name,
            at = crate::domain::french::day_and_time(now.naive_utc()),
            structure = h.structure,
            link = url(&format!("/usagers/{usager_id}")),
        );
        let managers: Vec<String> = crate::accounts::users::members(c, &structure_id)?
            .into_iter()
            .filter(|m| m.user.active && m.user.has(Role::Manager))
            .map(|m| m.user.email)
            .collect();
        for to in managers {
            crate::mail::enqueue(
                c,
                now,
                &crate::mail::Mail {
                    kind: "structure.usager_revoked",
                    to,
                    subject: "Une personne accompagnée a révoqué un mandat".into(),
                    text: text.clone(),
                    usager: Some(usager_id.to_string()),
                    structure: Some(structure_id.clone()),
                },
            )?;
        }
        Ok(after)
    })
}

fn time(t: &NaiveDateTime) -> String {
    journal::format_time(t)
}

/// The person's data as JSON (identity, mandates, authorisations, uses), journaled
/// (`usager.data_exported`), in one transaction.
pub fn export(conn: &mut DbConn, now: DateTime<Utc>, usager_id: &str) -> Result<Value, Error> {
    write_tx(conn, |c| {
        let u = mandates::usager_by_id(c, usager_id)?.ok_or(Error::NotFound)?;
        let list = held(c, now, usager_id)?;
        let uses = uses_of(c, usager_id)?;
        let mandates: Vec<Value> = list
            .iter()
            .map(|h| {
                let m = &h.view.mandate;
                json!({
                    "id": m.id,
                    "structure": {"id": m.structure_id, "name": h.structure},
                    "aidant": short_name(&h.view.aidant_name),
                    "duration": m.duration,
                    "created_at": time(&m.created_at),
                    "expires_at": time(&m.expires_at),
                    "revoked_at": m.revoked_at.as_ref().map(time),
                    "state": h.view.state().code(),
                    "attestation_sha256": m.attestation_digest,
                    "authorisations": h.view.authorisations.iter().map(|(a, s)| json!({
                        "id": a.id,
                        "demarche": a.demarche,
                        "label": rules::demarche(&a.demarche).map(|d| d.label),
                        "state": s.code(),
                        "revoked_at": a.revoked_at.as_ref().map(time),
                        "revoked_by": a.revoked_by,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let uses: Vec<Value> = uses
            .iter()
            .map(|x| {
                json!({
                    "at": time(&x.at),
                    "aidant": x.aidant,
                    "structure": x.structure,
                    "site": x.site,
                    "demarche": x.demarche,
                    "mandate": x.mandate_id,
                })
            })
            .collect();
        journal::append(
            c,
            now,
            NewEntry::new("usager.data_exported")
                .actor(format!("usager:{usager_id}"))
                .usager(usager_id)
                .detail("mandates", list.len())
                .detail("uses", uses.len()),
        )?;
        Ok(json!({
            "exported_at": time(&now.naive_utc()),
            "identity": {
                "id": u.id,
                "given_name": u.given_name,
                "family_name": u.family_name,
                "preferred_username": u.preferred_username,
                "birthdate": u.birthdate,
                "gender": u.gender,
                "birthplace": u.birthplace,
                "birthcountry": u.birthcountry,
                "email": u.email,
                "created_at": time(&u.created_at),
            },
            "mandates": mandates,
            "uses": uses,
        }))
    })
}

/// After FranceConnect's answer to a person's login was matched to its session.
#[derive(Debug)]
pub enum LoginStep {
    /// No person's login has this `state`: the answer belongs to a mandate creation.
    NotMine,
    /// Exchange the code (outside any transaction), then call [`login_finish`].
    Exchange(
        Box<sessions::UsagerSession>,
        crate::domain::identity::FlowSecrets,
    ),
    /// Refused, journaled (`usager.login_failed`): the French message to show.
    Failed(String),
}

const LOGIN_REPLAYED: &str = "Cette réponse de FranceConnect a déjà été utilisée ou arrive trop tard. Reconnectez-vous depuis votre espace personnel.";
const LOGIN_ELSEWHERE: &str = "Cette connexion a été commencée dans un autre navigateur. Reconnectez-vous depuis ce navigateur-ci.";

/// Checks FranceConnect's answer against the login found by its state (pure):
/// `Err((reason, message))`.
pub fn check_login(
    found: &sessions::PendingLogin,
    browser_session: Option<&str>,
    q: &mandates::CallbackParams,
    fc_issuer: &str,
) -> Result<(), (&'static str, String)> {
    if found.flow.is_none() {
        return Err(("replayed_state", LOGIN_REPLAYED.into()));
    }
    if browser_session != Some(found.session.id_hash.as_str()) {
        return Err(("session_mismatch", LOGIN_ELSEWHERE.into()));
    }
    if q.iss
        .as_deref()
        .is_some_and(|i| i.trim_end_matches('/') != fc_issuer.trim_end_matches('/'))
    {
        return Err((
            "issuer_mismatch",
            "La réponse ne provient pas du fournisseur d’identité attendu. Reconnectez-vous."
                .into(),
        ));
    }
    if !q.error.is_empty() {
        let e = if q.error == "access_denied" {
            crate::domain::identity::FcError::Cancelled
        } else {
            crate::domain::identity::FcError::Provider(q.error.clone())
        };
        return Err((e.reason(), e.to_string()));
    }
    Ok(())
}

fn login_failed(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    remote: Option<&str>,
    reason: &str,
) -> Result<(), Error> {
    let mut e = NewEntry::new("usager.login_failed").detail("reason", reason);
    if let Some(r) = remote {
        e = e.detail("request", r);
    }
    journal::append(conn, now, e)?;
    Ok(())
}

/// The first step of FranceConnect's answer, in one transaction: when its `state` is a
/// person's login, that login is consumed (single use) and checked against the browser's
/// session (`browser_token`); a refusal is journaled.
pub fn login_begin(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &crate::crypto::SecretBox,
    browser_token: Option<&str>,
    q: &mandates::CallbackParams,
    fc_issuer: &str,
) -> Result<LoginStep, Error> {
    if q.state.is_empty() {
        return Ok(LoginStep::NotMine);
    }
    let browser = browser_token.map(|t| crate::crypto::sha256_hex(t.as_bytes()));
    write_tx(conn, |c| {
        let Some(found) = sessions::take_login_in(c, now, secrets, &q.state)? else {
            return Ok(LoginStep::NotMine);
        };
        match (
            check_login(&found, browser.as_deref(), q, fc_issuer),
            found.flow,
        ) {
            (Ok(()), Some(flow)) => Ok(LoginStep::Exchange(Box::new(found.session), flow)),
            (Err((reason, message)), _) => {
                login_failed(c, now, found.session.remote_id.as_deref(), reason)?;
                Ok(LoginStep::Failed(message))
            }
            (Ok(()), None) => {
                login_failed(c, now, found.session.remote_id.as_deref(), "replayed_state")?;
                Ok(LoginStep::Failed(LOGIN_REPLAYED.into()))
            }
        }
    })
}

/// How a person's login ended.
#[derive(Debug)]
pub enum LoginDone {
    /// Logged in: the new session's cookie token; `remote` when a remote consent request
    /// awaits the answer.
    LoggedIn {
        /// The cookie token of the new session.
        token: String,
        /// A remote request awaits the person's answer.
        remote: bool,
    },
    /// FranceConnect proved another person than the one the remote request names.
    Mismatch,
    /// The remote request expired meanwhile.
    Expired,
    /// No mandate was ever made for this person: nothing to show.
    NoMandate,
    /// Refused: the French message.
    Failed(String),
}

/// The last step of a person's login, in one transaction: the session id changes and
/// the session is logged in (`usager.logged_in`); for a remote consent, the identity
/// proven must be the one the aidant entered (else the request is closed, journaled).
pub fn login_finish(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    secrets: &crate::crypto::SecretBox,
    session: &sessions::UsagerSession,
    exchanged: Result<crate::domain::identity::Identity, crate::domain::identity::FcError>,
) -> Result<LoginDone, Error> {
    write_tx(conn, |c| {
        let remote = session.remote_id.as_deref();
        let identity = match exchanged {
            Ok(i) => i,
            Err(e) => {
                login_failed(c, now, remote, e.reason())?;
                sessions::delete_in(c, &session.id_hash)?;
                return Ok(LoginDone::Failed(e.to_string()));
            }
        };
        let known = mandates::usager_by_sub(c, &identity.sub)?;
        let usager_id = known.as_ref().map(|u| u.id.clone());
        if remote.is_none() && usager_id.is_none() {
            sessions::delete_in(c, &session.id_hash)?;
            return Ok(LoginDone::NoMandate);
        }
        let (token, new) =
            sessions::rotate_in(c, now, &session.id_hash, usager_id.as_deref(), remote)?;
        if let Some(r) = remote {
            match remote::identify_in(c, now, secrets, r, &identity, &new.id_hash)? {
                remote::Identified::Expected => {}
                other => {
                    sessions::delete_in(c, &new.id_hash)?;
                    return Ok(match other {
                        remote::Identified::Mismatch => LoginDone::Mismatch,
                        remote::Identified::Expired => LoginDone::Expired,
                        _ => {
                            LoginDone::Failed(remote::closed_message(remote::RemoteStatus::Opened))
                        }
                    });
                }
            }
        }
        let mut e = NewEntry::new("usager.logged_in");
        e = match &usager_id {
            Some(u) => e.actor(format!("usager:{u}")).usager(u),
            None => e.actor("usager"),
        };
        if let Some(r) = remote {
            e = e.detail("request", r);
        }
        journal::append(c, now, e)?;
        Ok(LoginDone::LoggedIn {
            token,
            remote: remote.is_some(),
        })
    })
}

/// Housekeeping, in the caller's transaction: closes the remote requests past their
/// validity (each journaled), deletes the ended sessions and the requests closed more
/// than [`remote::KEEP_CLOSED_DAYS`] days ago (journaled with counts).
pub fn housekeeping_in(conn: &mut DbConn, now: DateTime<Utc>) -> Result<(), Error> {
    remote::expire_due_in(conn, now)?;
    let gone = sessions::purge_in(conn, now)?;
    let closed = remote::purge_closed_in(
        conn,
        (now - chrono::Duration::days(remote::KEEP_CLOSED_DAYS)).naive_utc(),
    )?;
    if gone + closed > 0 {
        journal::append(
            conn,
            now,
            NewEntry::new("maintenance.purged").actor("system").detail(
                "counts",
                json!({"usager_sessions": gone, "remote_consents": closed}),
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(with_flow: bool) -> sessions::PendingLogin {
        sessions::PendingLogin {
            session: sessions::UsagerSession {
                id_hash: "s1".into(),
                usager_id: None,
                logged_in: false,
                csrf_token: "c".into(),
                login_state_hash: None,
                login_secrets_enc: None,
                remote_id: None,
                created_at: NaiveDateTime::default(),
                last_seen: NaiveDateTime::default(),
            },
            flow: with_flow.then(|| crate::domain::identity::FlowSecrets {
                nonce: "n".into(),
                pkce_verifier: "v".into(),
            }),
        }
    }

    #[test]
    fn a_login_answer_is_checked_in_order() {
        let ok = mandates::CallbackParams {
            code: "c".into(),
            state: "x".into(),
            iss: Some("https://fc.example/".into()),
            ..Default::default()
        };
        let reason =
            |p: &sessions::PendingLogin, browser: Option<&str>, q: &mandates::CallbackParams| {
                check_login(p, browser, q, "https://fc.example")
                    .err()
                    .map(|(r, _)| r)
            };
        assert_eq!(reason(&pending(true), Some("s1"), &ok), None);
        assert_eq!(
            reason(&pending(false), Some("s1"), &ok),
            Some("replayed_state")
        );
        assert_eq!(
            reason(&pending(true), Some("s2"), &ok),
            Some("session_mismatch")
        );
        assert_eq!(reason(&pending(true), None, &ok), Some("session_mismatch"));
        let evil = mandates::CallbackParams {
            iss: Some("https://evil.example".into()),
            ..ok.clone()
        };
        assert_eq!(
            reason(&pending(true), Some("s1"), &evil),
            Some("issuer_mismatch")
        );
        let cancelled = mandates::CallbackParams {
            error: "access_denied".into(),
            ..ok.clone()
        };
        assert_eq!(
            reason(&pending(true), Some("s1"), &cancelled),
            Some("access_denied")
        );
        let failed = mandates::CallbackParams {
            error: "server_error".into(),
            ..ok
        };
        assert_eq!(
            reason(&pending(true), Some("s1"), &failed),
            Some("provider_error")
        );
    }
}
