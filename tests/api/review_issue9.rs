//! Outside review of issue 9 (démarche-bound tokens, immediate revocation, the FranceConnect
//! profile). Each test here demonstrates a finding and fails until it is fixed.

use procura::clock::Clock;
use procura::domain::mandate::DemarcheSet;

use crate::helpers::oidc::*;
use crate::helpers::*;

fn offer(w: &World, set: &DemarcheSet) {
    let mut conn = w.app.store.conn().expect("conn");
    procura::accounts::structures::set_demarches(
        &mut conn,
        w.clock.now(),
        "test",
        &w.structure_id,
        set,
    )
    .expect("démarches");
}

// FINDING 1: revocation is not durable. An access token (or a code) that was made invalid by
// deactivating the aidant, removing them from the structure or restricting the démarches
// comes back to life as soon as the right is restored (reactivation, re-adding, widening):
// nothing marks the token revoked, userinfo only re-evaluates the current state. The issue
// asks that these events make outstanding codes and tokens "invalid at once"; a token that
// answered 401 invalid_token must not answer 200 again later.
#[test]
fn review9_a_token_invalidated_by_deactivation_stays_invalid_after_reactivation() {
    let w = world(&[]);
    let at = access_token(&w, "openid profile", "social");
    assert_eq!(userinfo(&w, &at).status, 200, "before");
    w.set_aidant_active(false);
    assert_eq!(userinfo(&w, &at).status, 401, "deactivated");
    w.set_aidant_active(true);
    let again = userinfo(&w, &at);
    assert_eq!(
        again.status, 401,
        "a token invalidated by the deactivation answers again after reactivation: {}",
        again.body
    );
}

// FINDING 1 (same cause, structure restriction): restricting the structure's démarches then
// widening them back revives the tokens issued before the restriction.
#[test]
fn review9_a_token_invalidated_by_a_restriction_stays_invalid_after_widening() {
    let w = world(&[]);
    let at = access_token(&w, "openid", "social");
    assert_eq!(userinfo(&w, &at).status, 200, "before");
    offer(&w, &DemarcheSet::parse(&["logement"]).expect("codes"));
    assert_eq!(userinfo(&w, &at).status, 401, "restricted");
    offer(&w, &DemarcheSet::All);
    let again = userinfo(&w, &at);
    assert_eq!(
        again.status, 401,
        "a token invalidated by the restriction answers again once the démarche is back: {}",
        again.body
    );
}

// FINDING 1 (codes): a code chosen before a deactivation is redeemed if the account is
// reactivated before the code expires.
#[test]
fn review9_a_code_chosen_before_a_deactivation_is_not_redeemed_after_reactivation() {
    let w = world(&[]);
    let r = new_req();
    let code = code_for(&w, &w.rp, &r, "openid", "social");
    w.set_aidant_active(false);
    w.set_aidant_active(true);
    let resp = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(
        resp.status, 400,
        "the deactivation should have invalidated the code: {}",
        resp.body
    );
}

// FINDING 2: the client-controlled `scope` is copied verbatim and unbounded into the
// append-only journal (`mandate.used`, detail scope) and into every token response. A link
// crafted for a registered client (the redirect URI is the client's own, nothing else is
// needed) writes any text the author chooses (here a name and a birth date: personal data)
// into an entry that can never be removed. Only the scopes Procura knows should be kept.
#[test]
fn review9_free_text_in_scope_does_not_reach_the_journal() {
    let w = world(&[]);
    let junk = format!(
        "openid Jean-Michel-DUPONTEL-ne-le-1980-01-01 {}",
        "x".repeat(3000)
    );
    let r = new_req();
    let code = code_for(&w, &w.rp, &r, &junk, "social");
    assert!(
        !journal_mentions(&w.app.store, "DUPONTEL"),
        "the journal holds the text the link's author put in scope"
    );
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    assert_eq!(t.status, 200, "{}", t.body);
    let scope = t.json()["scope"].as_str().unwrap_or_default().to_string();
    assert!(
        scope.len() < 200,
        "the granted scope echoes {} characters of unknown scopes",
        scope.len()
    );
}

// FINDING 3: essential claim values are ignored. OpenID Connect Core §5.5.1.1: an essential
// `acr` whose values cannot be met MUST be treated as a failed authentication (Procura
// only ever asserts eidas1, so this is known at the authorization request). Procura starts
// the interaction and issues an ID token with `acr=eidas1` anyway.
#[test]
fn review9_an_essential_acr_that_cannot_be_met_is_refused() {
    let w = world(&[]);
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["eidas2","eidas3"]}}}"#;
    let r = new_req();
    let resp = w
        .web
        .get(&authorize_path(&w.rp, &r, "openid", &[("claims", claims)]));
    let to = resp.header("location").unwrap_or_default().to_string();
    assert!(
        query_param(&to, "error").is_some(),
        "the request goes on to the interaction ({} {to})",
        resp.status
    );
}

// FINDING 3 (sub): §5.5.1 "If the sub Claim is requested with a specific value for the ID
// Token, the Authorization Server MUST only send a positive response if the End-User
// identified by that sub value has an active session". Procura ignores the value and
// issues an ID token for another subject.
#[test]
fn review9_a_sub_requested_with_a_value_is_not_answered_for_another_subject() {
    let w = world(&[]);
    let claims = r#"{"id_token":{"sub":{"value":"somebody-else"}}}"#;
    let r = new_req();
    let path = authorize_path(&w.rp, &r, "openid", &[("claims", claims)]);
    let resp = w.web.get(&path);
    let to = resp.header("location").unwrap_or_default().to_string();
    if query_param(&to, "error").is_some() {
        return;
    }
    let redirect = interact(&w.web, &path, &w.usager_id, "social");
    let Some(code) = query_param(&redirect, "code") else {
        return;
    };
    let t = token_request(&w, &w.rp, &code, &r.verifier, w.rp.secret.as_deref());
    if t.status != 200 {
        return;
    }
    let id = verify(&w, t.json()["id_token"].as_str().expect("id")).expect("signed");
    assert_eq!(
        id["sub"], "somebody-else",
        "a positive answer for another subject than the one requested"
    );
}
