//! Memberships (issue 14, item 3): a manager invites an existing account, which accepts or
//! declines from its space; invitations expire and can be cancelled; co-managers are named
//! per structure, and the last manager keeps the role.

use chrono::Duration;
use procura::domain::roles::Role;

use crate::helpers::*;

const INVITED: &str =
    "Si un compte Procura existe avec cette adresse, une invitation lui a été envoyée.";

fn invite(web: &Web, email: &str) -> Resp {
    web.submit("/gestion", "/gestion/invitations", &[("email", email)])
}

/// The id of the first invitation offered on the account's `/espace`.
fn offered_id(web: &Web) -> String {
    between(
        &web.get("/espace").body,
        "/espace/invitations/",
        "/accepter",
    )
}

fn answer(web: &Web, id: &str, what: &str) -> Resp {
    web.submit("/espace", &format!("/espace/invitations/{id}/{what}"), &[])
}

#[test]
fn invitations_answer_alike_and_reach_existing_accounts_only() {
    let (app, clock, s, m, a) = team(61);
    let b = structure(&app.store, &clock, "Bureau B", 62);
    let x = member(&app, &clock, "x@exemple.fr", &[Role::Aidant], &b);
    let mb = member(&app, &clock, "mb@exemple.fr", &[Role::Manager], &b);
    let manager = logged_in(&app, &clock, &m);
    // An account elsewhere, an unknown address and a member get the same answer.
    for email in ["X@exemple.fr", "personne@exemple.fr", "a@exemple.fr"] {
        let r = invite(&manager, email);
        assert_eq!(r.status, 303, "{email}: {}", r.body);
        assert_eq!(r.header("location"), Some("/gestion"));
        let page = manager.get("/gestion");
        assert!(page.body.contains(INVITED), "{email}: {}", page.body);
    }
    assert_eq!(count_rows(&app.store, "membership_invitations"), 1);
    let mails = mails_of_kind(&app.store, "aidant.membership_invitation");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "x@exemple.fr");
    assert!(mails[0].body_text.contains("S"));
    assert_eq!(
        count_of(&journal_actions(&app.store), "membership.invited"),
        1
    );
    // Inviting again while pending creates nothing more.
    assert_eq!(invite(&manager, "x@exemple.fr").status, 303);
    assert_eq!(count_rows(&app.store, "membership_invitations"), 1);
    // A malformed address is refused clearly, and nothing changes.
    let r = invite(&manager, "pas-une-adresse");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("n’est pas valide"), "{}", r.body);
    assert!(r.body.contains("value=\"pas-une-adresse\""), "kept");
    assert_eq!(count_rows(&app.store, "membership_invitations"), 1);
    assert_eq!(
        mails_of_kind(&app.store, "aidant.membership_invitation").len(),
        1
    );
    // The manager sees it pending; another structure's manager neither sees nor cancels it.
    let list = manager.get("/gestion").body;
    assert!(list.contains("x@exemple.fr"), "{list}");
    let id = between(&list, "/gestion/invitations/", "/annuler");
    let other = logged_in(&app, &clock, &mb);
    assert!(!other.get("/gestion").body.contains(&id), "not listed in B");
    let r = other.submit(
        "/gestion",
        &format!("/gestion/invitations/{id}/annuler"),
        &[],
    );
    assert_eq!(r.status, 404);
    // An aidant cannot invite nor cancel, nor accept someone else's invitation.
    let aidant = logged_in(&app, &clock, &a);
    assert_eq!(invite(&aidant, "x@exemple.fr").status, 403);
    let r = aidant.submit(
        "/espace",
        &format!("/gestion/invitations/{id}/annuler"),
        &[],
    );
    assert_eq!(r.status, 403);
    assert_eq!(answer(&aidant, &id, "accepter").status, 404);
    assert_eq!(answer(&aidant, &id, "n-importe-quoi").status, 404);
    assert_eq!(
        count_of(&journal_actions(&app.store), "membership.accepted"),
        0
    );
    // The invited account accepts from its space, switches to the structure and acts there.
    let xw = logged_in(&app, &clock, &x);
    let home = xw.get("/espace").body;
    assert!(home.contains("vous invite à la rejoindre"), "{home}");
    assert_eq!(offered_id(&xw), id);
    let r = answer(&xw, &id, "accepter");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(journal_has(&app.store, "membership.accepted", &id));
    assert!(xw
        .get("/espace")
        .body
        .contains("Vous avez rejoint la structure S"));
    assert_eq!(
        xw.submit("/espace", "/espace/structure", &[("structure", &s.id)])
            .status,
        303
    );
    assert!(xw.get("/espace").body.contains("Structure actuelle : S"));
    let form = xw.get("/mandats/nouveau");
    assert_eq!(form.status, 200);
    assert!(
        form.body
            .contains("Vous agissez pour la structure <strong>S</strong>"),
        "{}",
        form.body
    );
    // An aidant there, not a manager; the manager now lists the account.
    assert_eq!(xw.get("/gestion").status, 403);
    assert!(manager.get("/gestion").body.contains("x@exemple.fr"));
    // Once accepted, it cannot be answered or cancelled again.
    assert_eq!(answer(&xw, &id, "accepter").status, 400);
    let r = manager.submit(
        "/gestion",
        &format!("/gestion/invitations/{id}/annuler"),
        &[],
    );
    assert_eq!(r.status, 400);
    // Now a member: inviting again creates nothing.
    assert_eq!(invite(&manager, "x@exemple.fr").status, 303);
    assert_eq!(count_rows(&app.store, "membership_invitations"), 1);
}

#[test]
fn invitations_are_declined_cancelled_or_expire() {
    let (app, clock, s, m, _) = team(63);
    let b = structure(&app.store, &clock, "Bureau B", 64);
    let y = member(&app, &clock, "y@exemple.fr", &[Role::Aidant], &b);
    let z = member(&app, &clock, "z@exemple.fr", &[Role::Aidant], &b);
    let w = member(&app, &clock, "w@exemple.fr", &[Role::Aidant], &b);
    let manager = logged_in(&app, &clock, &m);
    for e in ["y@exemple.fr", "z@exemple.fr", "w@exemple.fr"] {
        assert_eq!(invite(&manager, e).status, 303);
    }
    assert_eq!(count_rows(&app.store, "membership_invitations"), 3);
    // Declined: no membership, journaled.
    let yw = logged_in(&app, &clock, &y);
    let yid = offered_id(&yw);
    assert_eq!(answer(&yw, &yid, "refuser").status, 303);
    assert!(journal_has(&app.store, "membership.declined", &yid));
    assert!(!yw.get("/espace").body.contains("vous invite"));
    assert_eq!(answer(&yw, &yid, "accepter").status, 400);
    // Cancelled by the manager: the account can no longer accept it.
    let zw = logged_in(&app, &clock, &z);
    let zid = offered_id(&zw);
    let r = manager.submit(
        "/gestion",
        &format!("/gestion/invitations/{zid}/annuler"),
        &[],
    );
    assert_eq!(r.status, 303);
    assert!(journal_has(
        &app.store,
        "membership.invitation_cancelled",
        &zid
    ));
    assert!(!zw.get("/espace").body.contains("vous invite"));
    assert_eq!(answer(&zw, &zid, "accepter").status, 400);
    // Expired after 14 days.
    let ww = logged_in(&app, &clock, &w);
    let wid = offered_id(&ww);
    clock.advance(Duration::days(15));
    let ww = logged_in(&app, &clock, &w);
    assert!(!ww.get("/espace").body.contains("vous invite"));
    let r = answer(&ww, &wid, "accepter");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("expiré"), "{}", r.body);
    let manager = logged_in(&app, &clock, &m);
    assert!(!manager.get("/gestion").body.contains("w@exemple.fr"));
    // None of them joined.
    for acc in [&y, &z, &w] {
        let r = logged_in(&app, &clock, acc).submit(
            "/espace",
            "/espace/structure",
            &[("structure", &s.id)],
        );
        assert_eq!(r.status, 404, "{}", acc.email);
    }
    assert_eq!(
        count_of(&journal_actions(&app.store), "membership.accepted"),
        0
    );
}

#[test]
fn co_managers_are_named_per_structure_and_the_last_one_stays() {
    let (app, clock, s, m, a) = team(65);
    let b = structure(&app.store, &clock, "Bureau B", 66);
    let mb = member(&app, &clock, "mb@exemple.fr", &[Role::Manager], &b);
    let other_aidant = member(&app, &clock, "o@exemple.fr", &[Role::Aidant], &s);
    let manager = logged_in(&app, &clock, &m);
    let (aid, mid) = (a.user.id.clone(), m.user.id.clone());
    // The last manager cannot give up the role.
    let page = manager.get(&format!("/gestion/comptes/{mid}/retirer-responsable"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Renoncer"), "{}", page.body);
    let r = manager.submit(
        "/gestion",
        &format!("/gestion/comptes/{mid}/retirer-responsable"),
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("au moins un responsable"), "{}", r.body);
    assert_eq!(
        count_of(&journal_actions(&app.store), "account.roles_changed"),
        0
    );
    // Wrong role and other structure.
    let path = format!("/gestion/comptes/{aid}/nommer-responsable");
    let aw = logged_in(&app, &clock, &other_aidant);
    assert_eq!(aw.get(&path).status, 403);
    assert_eq!(aw.submit("/espace", &path, &[]).status, 403);
    let bw = logged_in(&app, &clock, &mb);
    assert_eq!(bw.get(&path).status, 404);
    assert_eq!(bw.submit("/gestion", &path, &[]).status, 404);
    assert_eq!(
        count_of(&journal_actions(&app.store), "account.roles_changed"),
        0
    );
    // From now on, the aidant also belongs to B.
    add_membership(&app.store, &a.user.id, &b.id);
    // Naming a co-manager: a confirmation first, then the change, journaled.
    let page = manager.get(&path);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Nommer"), "{}", page.body);
    assert_eq!(manager.submit("/gestion", &path, &[]).status, 303);
    let e = last_journal_entry(&app.store);
    assert_eq!(e.action, "account.roles_changed");
    assert!(e.details.contains(r#""before":"aidant""#), "{}", e.details);
    assert!(
        e.details.contains(r#""after":"aidant,manager""#),
        "{}",
        e.details
    );
    assert!(user_row(&app.store, &aid).has(Role::Manager));
    // Manager in S only: in B, the same account is an aidant.
    let aw = logged_in(&app, &clock, &a);
    assert_eq!(aw.get("/gestion").status, 200);
    assert_eq!(
        aw.submit("/espace", "/espace/structure", &[("structure", &b.id)])
            .status,
        303
    );
    assert_eq!(aw.get("/gestion").status, 403);
    assert!(!bw
        .get(&format!("/gestion/comptes/{aid}"))
        .body
        .contains("Retirer le rôle de responsable"));
    assert_eq!(
        aw.submit("/espace", "/espace/structure", &[("structure", &s.id)])
            .status,
        303
    );
    // Giving it again changes nothing.
    let r = manager.submit("/gestion", &path, &[]);
    assert_eq!(r.status, 303);
    assert_eq!(
        count_of(&journal_actions(&app.store), "account.roles_changed"),
        1
    );
    // The co-manager takes the role from the first manager, who loses /gestion at once.
    let r = aw.submit(
        "/gestion",
        &format!("/gestion/comptes/{mid}/retirer-responsable"),
        &[],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(journal_has(
        &app.store,
        "account.roles_changed",
        r#""after":"""#
    ));
    assert_eq!(manager.get("/gestion").status, 403);
    // Now the last manager, the co-manager cannot give up the role.
    let r = aw.submit(
        "/gestion",
        &format!("/gestion/comptes/{aid}/retirer-responsable"),
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        count_of(&journal_actions(&app.store), "account.roles_changed"),
        2
    );
}
