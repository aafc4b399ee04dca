//! The administrator's screens (`/admin`): structures, accounts, OpenID clients, TOTP
//! cards, keys, settings, erasure. Each change is checked in the database and in the
//! journal (the administrator as actor); each screen refuses a manager, an aidant and a
//! visitor.

use chrono::Duration;
use procura::accounts::structures;
use procura::accounts::users;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;
use procura::federation::provider as op;

use crate::helpers::oidc::{access_token, authorize_path, new_req, userinfo, world};
use crate::helpers::*;

/// Every page and action of `/admin`, `{s}` standing for a structure, `{u}` for an
/// account, `{c}` for a client, `{p}` for a person.
const ROUTES: [(&str, &str); 32] = [
    ("GET", "/admin"),
    ("GET", "/admin/structures"),
    ("GET", "/admin/structures/nouvelle"),
    ("POST", "/admin/structures"),
    ("GET", "/admin/structures/{s}"),
    ("POST", "/admin/structures/{s}"),
    ("GET", "/admin/structures/{s}/desactiver"),
    ("POST", "/admin/structures/{s}/desactiver"),
    ("POST", "/admin/structures/{s}/reactiver"),
    ("GET", "/admin/comptes"),
    ("GET", "/admin/comptes/nouveau"),
    ("POST", "/admin/comptes"),
    ("GET", "/admin/comptes/{u}"),
    ("GET", "/admin/comptes/{u}/desactiver"),
    ("POST", "/admin/comptes/{u}/desactiver"),
    ("POST", "/admin/comptes/{u}/reactiver"),
    ("POST", "/admin/comptes/{u}/second-facteur"),
    ("GET", "/admin/clients"),
    ("GET", "/admin/clients/nouveau"),
    ("POST", "/admin/clients"),
    ("GET", "/admin/clients/{c}"),
    ("POST", "/admin/clients/{c}"),
    ("GET", "/admin/cartes"),
    ("POST", "/admin/cartes"),
    ("GET", "/admin/cles"),
    ("POST", "/admin/cles/rotation"),
    ("POST", "/admin/cles/rotation-journal"),
    ("POST", "/admin/cles/rsa"),
    ("POST", "/admin/cles/point-de-controle"),
    ("GET", "/admin/parametres"),
    ("POST", "/admin/usagers/{p}/effacer"),
    ("GET", "/admin/statistiques.csv"),
];

#[test]
fn a_manager_an_aidant_and_a_visitor_are_refused_everywhere_and_nothing_changes() {
    let w = admin_world(801);
    let rp = crate::helpers::oidc::register(
        &w.app.store,
        &w.clock,
        "client_secret_basic",
        "https://site.example.fr/cb",
    );
    let created = seed_mandate(
        &w.app.store,
        &w.clock,
        &w.aidant,
        &w.s,
        "fc-sub-admin-1",
        &["social"],
        MandateDuration::Month,
    );
    let person = created.mandate.usager_id.clone();
    // The manager of the structure itself, and of another structure.
    let other = structure(&w.app.store, &w.clock, "Autre", 802);
    let other_manager = member(&w.app, &w.clock, "m2@exemple.fr", &[Role::Manager], &other);
    let sessions = [
        ("manager", w.as_(&w.manager)),
        ("aidant", w.as_(&w.aidant)),
        ("other manager", w.as_(&other_manager)),
    ];
    let anonymous = Web::new(&w.app);
    let journal_before = journal_entries(&w.app.store).len();
    for (method, pattern) in ROUTES {
        let path = pattern
            .replace("{s}", &w.s.id)
            .replace("{u}", &w.aidant.user.id)
            .replace("{c}", &rp.id)
            .replace("{p}", &person);
        for (who, web) in &sessions {
            let token = web.csrf("/espace");
            let r = match method {
                "GET" => web.get(&path),
                _ => web.post(
                    &path,
                    &[
                        ("csrf_token", &token),
                        ("name", "Pirate"),
                        ("siret", &valid_siret(1)),
                        ("demarches", "social"),
                    ],
                ),
            };
            assert_eq!(r.status, 403, "{who} {method} {path}: {}", r.body);
        }
        let r = match method {
            "GET" => anonymous.get(&path),
            _ => anonymous.post(&path, &[("name", "Pirate")]),
        };
        assert_eq!(r.status, 303, "visitor {method} {path}");
        assert_eq!(r.header("location"), Some("/connexion"), "{method} {path}");
    }
    // Nothing was journaled by these attempts but the logins' own entries.
    let after: Vec<String> = journal_entries(&w.app.store)[journal_before..]
        .iter()
        .map(|e| e.action.clone())
        .filter(|a| !a.starts_with("auth.") && !a.starts_with("session."))
        .collect();
    assert!(
        after.iter().all(|a| !a.starts_with("structure.")
            && !a.starts_with("account.")
            && !a.starts_with("client.")
            && !a.starts_with("keys.")
            && !a.starts_with("journal.key")
            && !a.starts_with("totp_card.")
            && a != "usager.erased"),
        "{after:?}"
    );
    assert!(structure_row(&w.app.store, &w.s.id).active);
    assert!(user_row(&w.app.store, &w.aidant.user.id).active);
}

#[test]
fn the_home_links_every_section_and_the_layout_shows_administration_to_admins_only() {
    let w = admin_world(803);
    let home = w.web.get("/admin");
    assert_eq!(home.status, 200, "{}", home.body);
    for href in [
        "/admin/structures",
        "/admin/comptes",
        "/admin/habilitations",
        "/admin/clients",
        "/admin/cartes",
        "/admin/cles",
        "/admin/parametres",
        "/admin/statistiques.csv",
    ] {
        assert!(
            home.body.contains(&format!("href=\"{href}\"")),
            "{href}: {}",
            home.body
        );
    }
    assert!(home
        .body
        .contains("class=\"fr-nav__link\" href=\"/admin\" aria-current=\"page\">Administration"));
    let manager = w.as_(&w.manager).get("/espace");
    assert!(
        !manager.body.contains("href=\"/admin\""),
        "{}",
        manager.body
    );
    let csv = w.web.get("/admin/statistiques.csv");
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("indicateur,valeur"), "{}", csv.body);
}

#[test]
fn a_structure_is_created_with_its_demarches_and_journaled_by_the_admin() {
    let w = admin_world(804);
    let siret = valid_siret(804);
    let r = w.web.submit(
        "/admin/structures/nouvelle",
        "/admin/structures",
        &[
            ("name", "France Services Nord"),
            ("siret", &siret),
            ("address", "1 rue de la Gare, 59000 Lille"),
            ("demarches", "social"),
            ("demarches", "logement"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let mut conn = w.app.store.conn().expect("conn");
    let s = structures::by_siret(&mut conn, &siret)
        .expect("q")
        .expect("created");
    assert_eq!(s.name, "France Services Nord");
    assert_eq!(s.address, "1 rue de la Gare, 59000 Lille");
    let codes: Vec<&str> = s.demarches().list().iter().map(|d| d.code).collect();
    assert_eq!(codes, ["social", "logement"]);
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/structures/{}", s.id).as_str())
    );
    let e = assert_journaled_by(&w.app.store, "structure.created", &w.actor());
    assert_eq!(e.structure_id.as_deref(), Some(s.id.as_str()));
    assert_journaled_by(&w.app.store, "structure.updated", &w.actor());
    // It is listed and found by name or SIRET.
    let list = w.web.get("/admin/structures?q=nord");
    assert!(list.body.contains("France Services Nord"), "{}", list.body);
    assert!(!list.body.contains(">S<"), "{}", list.body);
    let by_siret = w.web.get(&format!("/admin/structures?q={}", &siret[..9]));
    assert!(by_siret.body.contains("France Services Nord"));
}

#[test]
fn an_invalid_or_used_siret_is_refused_beside_its_field_and_nothing_is_created() {
    let w = admin_world(805);
    let before = count_rows(&w.app.store, "structures");
    let entries = journal_entries(&w.app.store).len();
    let mut bad = valid_siret(805);
    let last = bad.pop().expect("digit");
    bad.push(if last == '9' {
        '0'
    } else {
        (last as u8 + 1) as char
    });
    for (siret, words) in [
        (bad.as_str(), "Luhn"),
        ("1234", "14 chiffres"),
        (w.s.siret.as_str(), "existe déjà"),
    ] {
        let r = w.web.submit(
            "/admin/structures/nouvelle",
            "/admin/structures",
            &[
                ("name", "Doublon"),
                ("siret", siret),
                ("demarches", "social"),
            ],
        );
        assert_field_error(&r, "siret", words);
        // What was typed is kept.
        assert!(r.body.contains("value=\"Doublon\""), "{}", r.body);
    }
    let r = w.web.submit(
        "/admin/structures/nouvelle",
        "/admin/structures",
        &[
            ("name", " "),
            ("siret", &valid_siret(806)),
            ("demarches", "social"),
        ],
    );
    assert_field_error(&r, "name", "nom de la structure");
    let r = w.web.submit(
        "/admin/structures/nouvelle",
        "/admin/structures",
        &[("name", "Sans démarche"), ("siret", &valid_siret(807))],
    );
    assert_field_error(&r, "demarches", "au moins une démarche");
    assert_eq!(count_rows(&w.app.store, "structures"), before);
    assert_eq!(journal_entries(&w.app.store).len(), entries);
}

#[test]
fn a_structure_is_edited_and_a_bad_edit_changes_nothing() {
    let w = admin_world(808);
    let page = format!("/admin/structures/{}", w.s.id);
    let r = w.web.submit(
        &page,
        &page,
        &[
            ("name", "S renommée"),
            ("address", "2 place de la Mairie"),
            ("demarches", "famille"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let s = structure_row(&w.app.store, &w.s.id);
    assert_eq!(s.name, "S renommée");
    assert_eq!(s.address, "2 place de la Mairie");
    assert_eq!(s.demarches().list().len(), 1);
    let e = assert_journaled_by(&w.app.store, "structure.updated", &w.actor());
    assert_eq!(e.structure_id.as_deref(), Some(w.s.id.as_str()));
    let long = "x".repeat(201);
    let r = w.web.submit(
        &page,
        &page,
        &[("name", &long), ("address", ""), ("demarches", "social")],
    );
    assert_field_error(&r, "name", "200 caractères");
    let unchanged = structure_row(&w.app.store, &w.s.id);
    assert_eq!(unchanged.name, "S renommée");
    assert_eq!(unchanged.demarches().list()[0].code, "famille");
    assert_eq!(w.web.get("/admin/structures/inconnue").status, 404);
}

#[test]
fn deactivating_a_structure_ends_its_members_use_of_its_mandates_at_once() {
    let ow = world(&[]);
    let token = access_token(&ow, "openid profile", "social");
    assert_eq!(userinfo(&ow, &token).status, 200);
    let admin = account(
        &ow.app.store,
        &ow.clock,
        "admin.s@exemple.fr",
        &[Role::Admin],
        None,
    );
    let aweb = logged_in(&ow.app, &ow.clock, &admin);
    let confirm = format!("/admin/structures/{}/desactiver", ow.structure_id);
    let page = aweb.get(&confirm);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Désactiver la structure"),
        "{}",
        page.body
    );
    let r = aweb.submit(&confirm, &confirm, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!structure_row(&ow.app.store, &ow.structure_id).active);
    let e = assert_journaled_by(
        &ow.app.store,
        "structure.deactivated",
        &format!("user:{}", admin.user.id),
    );
    assert_eq!(e.structure_id.as_deref(), Some(ow.structure_id.as_str()));
    // The token issued before no longer works.
    assert_eq!(userinfo(&ow, &token).status, 401);
    // The person chooser refuses.
    let r = ow
        .web
        .get(&authorize_path(&ow.rp, &new_req(), "openid", &[]));
    let chooser = if r.status == 303 {
        ow.web.get(r.header("location").expect("interaction"))
    } else {
        r
    };
    assert!(
        chooser.body.contains("Votre structure est désactivée"),
        "{} {}",
        chooser.status,
        chooser.body
    );
    assert!(!chooser.body.contains(&ow.usager_id));
    // The mandate form and the aidant's home say so.
    let form = ow.web.get("/mandats/nouveau");
    assert_eq!(form.status, 403);
    assert!(
        form.body.contains("Votre structure est désactivée"),
        "{}",
        form.body
    );
    let home = ow.web.get("/espace");
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("Votre structure est désactivée"),
        "{}",
        home.body
    );
    // Reactivated: new uses work again, the old token stays void.
    let again = format!("/admin/structures/{}/reactiver", ow.structure_id);
    let r = aweb.submit(&again, &again, &[]);
    assert_eq!(r.status, 303);
    assert!(structure_row(&ow.app.store, &ow.structure_id).active);
    assert_journaled_by(
        &ow.app.store,
        "structure.reactivated",
        &format!("user:{}", admin.user.id),
    );
    assert_eq!(userinfo(&ow, &token).status, 401);
    ow.clock.advance(Duration::seconds(1));
    let fresh = access_token(&ow, "openid profile", "social");
    assert_eq!(userinfo(&ow, &fresh).status, 200);
}

#[test]
fn accounts_are_searched_shown_deactivated_and_reactivated_by_the_admin() {
    let w = admin_world(810);
    let list = w.web.get("/admin/comptes?q=a%40exemple");
    assert_eq!(list.status, 200);
    assert!(list.body.contains("a@exemple.fr"), "{}", list.body);
    assert!(!list.body.contains("m@exemple.fr"), "{}", list.body);
    let by_name = w.web.get("/admin/comptes?q=COMPTE%20M%40");
    assert!(by_name.body.contains("m@exemple.fr"), "{}", by_name.body);
    let page = w.web.get(&format!("/admin/comptes/{}", w.aidant.user.id));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Aidant"), "{}", page.body);
    assert!(page.body.contains(">S</a>"), "{}", page.body);
    assert!(
        page.body.contains("Second facteur : application"),
        "{}",
        page.body
    );
    // The aidant's open session ends with the deactivation.
    let aidant_web = w.as_(&w.aidant);
    let action = format!("/admin/comptes/{}/desactiver", w.aidant.user.id);
    let r = w.web.submit(&action, &action, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!user_row(&w.app.store, &w.aidant.user.id).active);
    let e = assert_journaled_by(&w.app.store, "account.deactivated", &w.actor());
    assert!(e.details.contains(&w.aidant.user.id));
    assert_eq!(e.structure_id, None, "account-wide");
    assert_eq!(aidant_web.get("/espace").status, 303);
    let action = format!("/admin/comptes/{}/reactiver", w.aidant.user.id);
    let r = w.web.submit(&action, &action, &[]);
    assert_eq!(r.status, 303);
    assert!(user_row(&w.app.store, &w.aidant.user.id).active);
    assert_journaled_by(&w.app.store, "account.reactivated", &w.actor());
    // An admin does not deactivate their own account; an unknown account is not found.
    let own = format!("/admin/comptes/{}/desactiver", w.admin.user.id);
    assert_eq!(w.web.submit("/admin", &own, &[]).status, 400);
    assert!(user_row(&w.app.store, &w.admin.user.id).active);
    assert_eq!(w.web.get("/admin/comptes/inconnu").status, 404);
}

#[test]
fn the_admin_resets_a_second_factor_and_the_link_goes_by_mail_only() {
    let w = admin_world(811);
    let action = format!("/admin/comptes/{}/second-facteur", w.aidant.user.id);
    let r = w.web.submit(&action, &action, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let page = w.web.get(r.header("location").expect("location"));
    assert!(!page.body.contains("/activation/"), "{}", page.body);
    assert!(page.body.contains("courriel"), "{}", page.body);
    let u = user_row(&w.app.store, &w.aidant.user.id);
    assert!(u.totp_secret_enc.is_none());
    let mails = mails_of_kind(&w.app.store, "aidant.enrolment");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "a@exemple.fr");
    let e = assert_journaled_by(&w.app.store, "account.second_factor_reset", &w.actor());
    assert!(e.details.contains(&w.aidant.user.id));
    // The old factor no longer logs in.
    let r = try_login(&Web::new(&w.app), &w.clock, &w.aidant, &w.aidant.secret);
    assert_ne!(r.header("location"), Some("/espace"));
}

#[test]
fn the_admin_creates_an_account_whose_link_is_mailed_and_bad_input_is_refused() {
    let w = admin_world(812);
    let r = w.web.submit(
        "/admin/comptes/nouveau",
        "/admin/comptes",
        &[
            ("name", "Nouvelle Aidante"),
            ("email", "Nouvelle@Exemple.fr"),
            ("roles", "aidant"),
            ("roles", "manager"),
            ("structure", &w.s.id),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let mut conn = w.app.store.conn().expect("conn");
    let u = users::find_by_email(&mut conn, "nouvelle@exemple.fr")
        .expect("q")
        .expect("created");
    assert!(u.has(Role::Aidant) && u.has(Role::Manager));
    assert!(users::is_member(&mut conn, &u.id, &w.s.id).expect("q"));
    let shown = w.web.get(r.header("location").expect("location"));
    assert!(!shown.body.contains("/activation/"), "{}", shown.body);
    let mails = mails_of_kind(&w.app.store, "aidant.enrolment");
    assert!(mails.iter().any(|m| m.recipient == "nouvelle@exemple.fr"));
    let e = assert_journaled_by(&w.app.store, "account.created", &w.actor());
    assert!(e.details.contains(&u.id));
    assert_journaled_by(&w.app.store, "enrolment.issued", &w.actor());
    // Bad input: beside the field, nothing created.
    let before = count_rows(&w.app.store, "users");
    let r = w.web.submit(
        "/admin/comptes/nouveau",
        "/admin/comptes",
        &[
            ("name", "X"),
            ("email", "pas-une-adresse"),
            ("roles", "aidant"),
        ],
    );
    assert_field_error(&r, "email", "adresse électronique");
    let r = w.web.submit(
        "/admin/comptes/nouveau",
        "/admin/comptes",
        &[
            ("name", "X"),
            ("email", "a@exemple.fr"),
            ("roles", "aidant"),
        ],
    );
    assert_field_error(&r, "email", "existe déjà");
    let r = w.web.submit(
        "/admin/comptes/nouveau",
        "/admin/comptes",
        &[("name", "X"), ("email", "x@exemple.fr")],
    );
    assert_field_error(&r, "roles", "rôle");
    assert_eq!(count_rows(&w.app.store, "users"), before);
}

#[test]
fn a_client_is_registered_with_its_secret_shown_once_and_every_setting_updated() {
    let w = admin_world(813);
    let r = w.web.submit(
        "/admin/clients/nouveau",
        "/admin/clients",
        &[
            ("name", "Impots.test"),
            (
                "redirect_uris",
                "https://impots.example.fr/cb\nhttps://impots.example.fr/cb2",
            ),
            ("post_logout_redirect_uris", "https://impots.example.fr/bye"),
            ("auth_method", "client_secret_post"),
            ("demarches", "argent"),
            ("pkce", "optional"),
            ("id_token_alg", "ES256"),
            ("userinfo_alg", "ES256"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = between(&r.body, "<code id=\"client-secret\">", "</code>");
    assert!(secret.len() > 20, "{}", r.body);
    let mut conn = w.app.store.conn().expect("conn");
    let all = op::clients(&mut conn).expect("clients");
    let c = all
        .iter()
        .find(|c| c.name == "Impots.test")
        .expect("client");
    assert!(c.secret_matches(&secret));
    assert_eq!(c.redirects().len(), 2);
    assert_eq!(c.post_logout_redirects(), ["https://impots.example.fr/bye"]);
    assert_eq!(c.auth_method.as_str(), "client_secret_post");
    assert_eq!(c.pkce.as_str(), "optional");
    assert_eq!(c.userinfo_alg.as_str(), "ES256");
    assert_eq!(c.demarches().describe(), serde_json::json!(["argent"]));
    let e = assert_journaled_by(&w.app.store, "client.created", &w.actor());
    assert_eq!(e.client_id.as_deref(), Some(c.id.as_str()));
    // The edit page never shows the secret again.
    let page = format!("/admin/clients/{}", c.id);
    assert!(!w.web.get(&page).body.contains(&secret));
    let r = w.web.submit(
        &page,
        &page,
        &[
            ("name", "Impôts"),
            ("redirect_uris", "https://impots.example.fr/cb"),
            ("post_logout_redirect_uris", ""),
            ("auth_method", "client_secret_basic"),
            ("demarches", "argent"),
            ("demarches", "travail"),
            ("pkce", "required"),
            ("id_token_alg", "ES256"),
            ("userinfo_alg", "none"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let c = op::client(&mut conn, &c.id).expect("q").expect("client");
    assert_eq!(c.name, "Impôts");
    assert_eq!(c.redirects(), ["https://impots.example.fr/cb"]);
    assert!(c.post_logout_redirects().is_empty());
    assert_eq!(c.pkce.as_str(), "required");
    assert_eq!(c.userinfo_alg.as_str(), "none");
    assert!(c.secret_matches(&secret), "the secret stays");
    assert_journaled_by(&w.app.store, "client.updated", &w.actor());
    let list = w.web.get("/admin/clients");
    assert!(list.body.contains("Impôts") && list.body.contains(&c.id));
}

#[test]
fn a_bad_client_setting_is_refused_beside_its_field_and_nothing_changes() {
    let w = admin_world(814);
    let before = count_rows(&w.app.store, "oidc_clients");
    let base = [
        ("name", "Site"),
        ("redirect_uris", "https://site.example.fr/cb"),
        ("post_logout_redirect_uris", ""),
        ("auth_method", "client_secret_basic"),
        ("demarches", "social"),
        ("pkce", "required"),
        ("id_token_alg", "ES256"),
        ("userinfo_alg", "none"),
    ];
    let with = |k: &str, v: &'static str| -> Vec<(&str, &str)> {
        base.iter()
            .map(|(bk, bv)| if *bk == k { (*bk, v) } else { (*bk, *bv) })
            .collect()
    };
    for (field, value, id, words) in [
        (
            "redirect_uris",
            "http://site.example.fr/cb",
            "redirect_uris",
            "https",
        ),
        ("redirect_uris", "", "redirect_uris", "redirect-uri"),
        ("name", "", "name", "nom du client"),
        (
            "post_logout_redirect_uris",
            "ftp://x",
            "post_logout_redirect_uris",
            "https",
        ),
        ("auth_method", "magic", "auth_method", "inconnu"),
        ("id_token_alg", "RS256", "id_token_alg", "RSA"),
    ] {
        let r = w.web.submit(
            "/admin/clients/nouveau",
            "/admin/clients",
            &with(field, value),
        );
        assert_field_error(&r, id, words);
    }
    let mut fields = with("auth_method", "none");
    fields.retain(|(k, _)| *k != "pkce");
    fields.push(("pkce", "optional"));
    let r = w
        .web
        .submit("/admin/clients/nouveau", "/admin/clients", &fields);
    assert_field_error(&r, "pkce", "pkce optional");
    assert_eq!(count_rows(&w.app.store, "oidc_clients"), before);
    assert!(last_entry(&w.app.store, "client.created").is_none());
}

#[test]
fn cards_are_imported_from_pasted_lines_and_tracked() {
    let w = admin_world(815);
    let csv = "serial,seed\nCARTE-001,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\nCARTE-002,3132333435363738393031323334353637383930\n";
    let r = w
        .web
        .submit("/admin/cartes", "/admin/cartes", &[("csv", csv)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(count_rows(&w.app.store, "totp_cards"), 2);
    let e = assert_journaled_by(&w.app.store, "totp_card.imported", &w.actor());
    assert!(e.details.contains("\"count\":2"), "{}", e.details);
    let page = w.web.get("/admin/cartes");
    assert!(
        page.body.contains("2 carte(s), dont 2 non attribuée(s)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("CARTE-001") && page.body.contains("en stock"));
    // A bad line: nothing imported, the error beside the field, the text kept.
    let bad =
        "CARTE-003,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\nCARTE-001,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n";
    let r = w
        .web
        .submit("/admin/cartes", "/admin/cartes", &[("csv", bad)]);
    assert_field_error(&r, "csv", "Ligne 2");
    assert!(r.body.contains("CARTE-003,JBSW"), "{}", r.body);
    let r = w.web.submit(
        "/admin/cartes",
        "/admin/cartes",
        &[("csv", "juste-un-numero")],
    );
    assert_field_error(&r, "csv", "Ligne 1");
    assert_eq!(count_rows(&w.app.store, "totp_cards"), 2);
}

#[test]
fn signing_keys_and_the_journal_key_are_rotated_by_the_admin() {
    let w = admin_world(816);
    let page = w.web.get("/admin/cles");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("ES256") && page.body.contains("Ed25519"),
        "{}",
        page.body
    );
    let keys_before = count_rows(&w.app.store, "signing_keys");
    assert_eq!(w.web.get("/admin/cles/rotation").status, 200);
    let r = w
        .web
        .submit("/admin/cles/rotation", "/admin/cles/rotation", &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(count_rows(&w.app.store, "signing_keys"), keys_before + 1);
    let e = assert_journaled_by(&w.app.store, "keys.rotated", &w.actor());
    let mut conn = w.app.store.conn().expect("conn");
    let keys = op::key_list(&mut conn).expect("keys");
    assert!(e.details.contains(&keys[0].kid), "{}", e.details);
    assert!(keys[0].retired_at.is_none());
    assert!(keys.iter().skip(1).all(|k| k.retired_at.is_some()));
    let journal_keys = count_rows(&w.app.store, "journal_keys");
    let r = w.web.submit(
        "/admin/cles/rotation-journal",
        "/admin/cles/rotation-journal",
        &[],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(count_rows(&w.app.store, "journal_keys"), journal_keys + 1);
    assert_journaled_by(&w.app.store, "journal.key_rotated", &w.actor());
    assert_eq!(w.web.get("/admin/cles/autre").status, 404);
    // A checkpoint now, as `procura journal checkpoint`.
    let checkpoints = count_rows(&w.app.store, "journal_checkpoints");
    let r = w
        .web
        .submit("/admin/cles", "/admin/cles/point-de-controle", &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        count_rows(&w.app.store, "journal_checkpoints"),
        checkpoints + 1
    );
    let shown = w.web.get("/admin/cles");
    assert!(
        shown.body.contains("Point de contrôle signé"),
        "{}",
        shown.body
    );
}

#[test]
fn an_rsa_key_is_imported_by_pasting_it_and_a_bad_one_is_refused_beside_the_field() {
    let w = admin_world(819);
    let path = w.app.db.dir.path().join("rsa.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .output()
        .expect("openssl");
    assert!(ok.status.success());
    let pem = std::fs::read_to_string(&path).expect("pem");
    let before = count_rows(&w.app.store, "signing_keys");
    let r = w.web.submit(
        "/admin/cles",
        "/admin/cles/rsa",
        &[(
            "pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )],
    );
    assert_field_error(&r, "pem", "Clé RSA refusée");
    assert_eq!(count_rows(&w.app.store, "signing_keys"), before);
    let r = w
        .web
        .submit("/admin/cles", "/admin/cles/rsa", &[("pem", &pem)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(count_rows(&w.app.store, "signing_keys"), before + 1);
    let e = assert_journaled_by(&w.app.store, "keys.imported", &w.actor());
    assert!(e.details.contains("RS256"), "{}", e.details);
    // An RS256 client can now be registered.
    let r = w.web.submit(
        "/admin/clients/nouveau",
        "/admin/clients",
        &[
            ("name", "Site RSA"),
            ("redirect_uris", "https://rsa.example.fr/cb"),
            ("auth_method", "client_secret_basic"),
            ("demarches", "social"),
            ("pkce", "required"),
            ("id_token_alg", "RS256"),
            ("userinfo_alg", "RS256"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("client-secret"), "{}", r.body);
}

#[test]
fn the_settings_in_force_are_shown_with_secrets_redacted() {
    let w = admin_world(817);
    let page = w.web.get("/admin/parametres");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("public_url"), "{}", page.body);
    assert!(page.body.contains(&w.app.base) || page.body.contains("http://"));
    assert!(page.body.contains("master_key"));
    assert!(page.body.contains("<td>&lt;set&gt;</td>"), "{}", page.body);
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode(crate::helpers::app::TEST_KEY);
    assert!(!page.body.contains(&key), "the master key leaked");
}

#[test]
fn the_admin_erases_a_persons_identity_as_the_command_does() {
    let w = admin_world(818);
    let created = seed_mandate(
        &w.app.store,
        &w.clock,
        &w.aidant,
        &w.s,
        "fc-sub-erase",
        &["social"],
        MandateDuration::Month,
    );
    let id = created.mandate.usager_id.clone();
    let r = w.web.get(&format!("/admin/usagers/effacer?id={id}"));
    assert_eq!(r.status, 303);
    let confirm = r.header("location").expect("location").to_string();
    assert_eq!(confirm, format!("/admin/usagers/{id}/effacer"));
    let page = w.web.get(&confirm);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Effacer l’identité"), "{}", page.body);
    let r = w.web.submit(&confirm, &confirm, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let mut conn = w.app.store.conn().expect("conn");
    assert!(procura::person::erase::erased_at(&mut conn, &id)
        .expect("q")
        .is_some());
    let e = assert_journaled_by(&w.app.store, "usager.erased", &w.actor());
    assert_eq!(e.usager_id.as_deref(), Some(id.as_str()));
    assert_journaled_by(&w.app.store, "mandate.revoked", &w.actor());
    let r = w.web.submit(
        "/admin",
        "/admin/usagers/00000000-0000-0000-0000-000000000000/effacer",
        &[],
    );
    assert_eq!(r.status, 404);
    assert_eq!(w.web.get("/admin/usagers/effacer?id=").status, 400);
}
