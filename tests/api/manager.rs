//! The manager's space (`/gestion`) and the enrolment links it issues (`/activation`):
//! who may do what, adding aidants, second-factor resets, physical TOTP cards.

use chrono::Duration;
use procura::accounts::totp;
use procura::accounts::users::{self, NewUser};
use procura::clock::Clock;
use procura::crypto::SecretBox;
use procura::domain::roles::Role;
use procura::store::write_tx;

use crate::helpers::*;

/// The authorisation matrix: (action, method, path with `{t}` for the target account,
/// expected status for the aidant, manager, auditor, admin and other structure's manager).
#[rustfmt::skip]
const MATRIX: [(&str, &str, &str, [u16; 5]); 9] = [
    ("home", "GET", "/espace", [200, 200, 200, 200, 200]),
    ("list accounts", "GET", "/gestion", [403, 200, 403, 403, 200]),
    ("account page", "GET", "/gestion/comptes/{t}", [403, 200, 403, 403, 404]),
    ("confirm deactivation", "GET", "/gestion/comptes/{t}/desactiver", [403, 200, 403, 403, 404]),
    ("deactivate", "POST", "/gestion/comptes/{t}/desactiver", [403, 303, 403, 403, 404]),
    ("reactivate", "POST", "/gestion/comptes/{t}/reactiver", [403, 303, 403, 403, 404]),
    ("reset second factor", "POST", "/gestion/comptes/{t}/second-facteur", [403, 200, 403, 403, 404]),
    ("assign card", "POST", "/gestion/comptes/{t}/carte", [403, 400, 403, 403, 404]),
    ("add aidant", "POST", "/gestion/aidants", [403, 200, 403, 403, 200]),
];

#[test]
fn authorisation_matrix() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "Structure A", 9);
    let other = structure(&app.store, &clock, "Structure B", 10);
    let target = member(&app, &clock, "target@exemple.fr", &[Role::Aidant], &s);
    let people = [
        (
            "aidant",
            member(&app, &clock, "aidant@exemple.fr", &[Role::Aidant], &s),
        ),
        (
            "manager",
            member(&app, &clock, "manager@exemple.fr", AIDANT_AND_MANAGER, &s),
        ),
        (
            "auditor",
            member(&app, &clock, "auditor@exemple.fr", &[Role::Auditor], &s),
        ),
        (
            "admin",
            account(&app.store, &clock, "admin@exemple.fr", &[Role::Admin], None),
        ),
        (
            "other manager",
            member(&app, &clock, "other@exemple.fr", &[Role::Manager], &other),
        ),
    ];
    let t = target.user.id.clone();
    let sessions: Vec<Web> = people
        .iter()
        .map(|(_, acc)| {
            let w = Web::new(&app);
            assert_eq!(login(&w, &clock, acc).status, 303, "{}", acc.email);
            w
        })
        .collect();
    let mut n = 0;
    for (action, method, path, expected) in &MATRIX {
        let path = path.replace("{t}", &t);
        let path = path.as_str();
        for (i, (who, _)) in people.iter().enumerate() {
            let web = &sessions[i];
            n += 1;
            let r = if *method == "GET" {
                web.get(path)
            } else {
                let email = format!("new{n}@exemple.fr");
                let fields: Vec<(&str, &str)> = match *action {
                    "add aidant" => vec![("email", email.as_str()), ("name", "Nouvel Aidant")],
                    "assign card" => vec![("serial", "NOPE"), ("otp", "123456")],
                    _ => vec![],
                };
                web.submit("/espace", path, &fields)
            };
            assert_eq!(r.status, expected[i], "{who} × {action}: {}", r.body);
        }
    }
    // Denied attempts changed nothing: the target was deactivated and reactivated by its
    // own manager only, and only two accounts were added (by the two managers).
    let row = user_row(&app.store, &target.user.id);
    assert!(row.active);
    let actions = journal_actions(&app.store);
    assert_eq!(count_of(&actions, "account.deactivated"), 1);
    assert_eq!(count_of(&actions, "account.reactivated"), 1);
    assert_eq!(count_of(&actions, "account.second_factor_reset"), 1);
    // Anonymous visitors are sent to the login page.
    let r = get(&app.url("/gestion"));
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/connexion"));
}

#[test]
fn manager_adds_an_aidant_who_enrols_through_the_link() {
    let (app, clock) = app_with_clock(&[]);
    let manager = new_manager(&app, &clock, "S", 11, "m@exemple.fr");
    let r = add_aidant(&manager, "Nouvelle.Aidante@Exemple.fr", "Nouvelle Aidante");
    assert_eq!(r.status, 200, "{}", r.body);
    let link = link_in(&r.body);
    let path = link.trim_start_matches(&app.base).to_string();
    // Duplicate e-mail (case-insensitive) is refused with a clear message.
    let r = add_aidant(&manager, "nouvelle.aidante@exemple.fr", "Autre");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("existe déjà"));
    // The new aidant opens the link, sets a password and confirms a first code.
    let aidant = Web::new(&app);
    let page = aidant.get(&path);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg"), "QR code shown");
    let secret_b32 = between(&page.body, "id=\"totp-secret\">", "<");
    let secret = totp::from_base32(&secret_b32).expect("secret");
    // A weak password is refused, nothing changes.
    let r = aidant.submit(
        &path,
        &path,
        &[
            ("password", "nouvelle.aidante1"),
            ("password_confirm", "nouvelle.aidante1"),
            ("otp", &code(&secret, &clock, 0)),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("identifiant"), "{}", r.body);
    let good = "une phrase de passe solide";
    let r = aidant.submit(
        &path,
        &path,
        &[
            ("password", good),
            ("password_confirm", good),
            ("otp", &code(&secret, &clock, 0)),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // The link is single-use.
    assert_eq!(aidant.get(&path).status, 404);
    let account = Account {
        user: {
            let mut conn = app.store.conn().expect("conn");
            users::find_by_email(&mut conn, "nouvelle.aidante@exemple.fr")
                .expect("q")
                .expect("created")
        },
        email: "nouvelle.aidante@exemple.fr".into(),
        password: good.into(),
        secret,
    };
    assert_eq!(login(&Web::new(&app), &clock, &account).status, 303);
    let actions = journal_actions(&app.store);
    for a in ["account.created", "enrolment.issued", "account.enrolled"] {
        assert!(actions.contains(&a.to_string()), "{a} in {actions:?}");
    }
}

#[test]
fn enrolment_links_expire_after_48_hours() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "S", 12);
    let mut conn = app.store.conn().expect("conn");
    let token = write_tx(&mut conn, |c| {
        let u = users::create(
            c,
            clock.now(),
            "test",
            &SecretBox::new(Some(TEST_KEY)),
            NewUser {
                email: "late@exemple.fr".into(),
                name: "En Retard".into(),
                roles: vec![Role::Aidant],
                structure: Some(s.id.clone()),
                ..Default::default()
            },
        )?;
        users::issue_enrolment(c, clock.now(), "test", Some(&s.id), &u.id)
    })
    .expect("token");
    drop(conn);
    let web = Web::new(&app);
    clock.advance(Duration::hours(47));
    assert_eq!(web.get(&format!("/activation/{token}")).status, 200);
    clock.advance(Duration::hours(2));
    let r = web.get(&format!("/activation/{token}"));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("plus valable"));
}

#[test]
fn second_factor_reset_forces_re_enrolment() {
    let (app, clock, _, m, a) = team(13);
    let manager = logged_in(&app, &clock, &m);
    let path = format!("/gestion/comptes/{}/second-facteur", a.user.id);
    let r = manager.submit(&path, &path, &[]);
    assert_eq!(r.status, 200);
    let link = link_in(&r.body);
    // The old secret no longer works; the aidant is told to re-enrol.
    let web = Web::new(&app);
    let r = try_login(&web, &clock, &a, &a.secret);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/connexion"));
    assert!(web.get("/connexion").body.contains("second facteur"));
    // Enrolment through the new link keeps the password and sets a new secret.
    let path = link.trim_start_matches(&app.base).to_string();
    let page = web.get(&path);
    assert!(
        !page.body.contains("name=\"password\""),
        "password already set"
    );
    let secret =
        totp::from_base32(&between(&page.body, "id=\"totp-secret\">", "<")).expect("secret");
    let r = web.submit(&path, &path, &[("otp", &code(&secret, &clock, 0))]);
    assert_eq!(r.status, 303, "{}", r.body);
    let again = Account { secret, ..a };
    assert_eq!(login(&Web::new(&app), &clock, &again).status, 303);
}

#[test]
fn a_forgotten_password_is_reset_through_a_link_confirmed_with_the_second_factor() {
    let (app, clock, _, m, a) = team(15);
    let manager = logged_in(&app, &clock, &m);
    let aidant = logged_in(&app, &clock, &a);
    let account = format!("/gestion/comptes/{}", a.user.id);
    assert!(manager
        .get(&account)
        .body
        .contains(&format!("href=\"{account}/mot-de-passe\"")));
    let path = format!("{account}/mot-de-passe");
    let ask = manager.get(&path);
    assert!(
        ask.body.contains("Réinitialiser le mot de passe de"),
        "{}",
        ask.body
    );
    let r = manager.submit(&path, &path, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = manager.get(r.header("location").expect("location"));
    assert!(
        html_unescape(&shown.body).contains("Le mot de passe est réinitialisé"),
        "{}",
        shown.body
    );
    assert!(
        !shown.body.contains("/activation/"),
        "never shown to the manager"
    );
    let link = reset_link_mailed(&app, &a.email);
    // The aidant's sessions ended, and the old password no longer opens the account.
    assert_eq!(aidant.get("/espace").status, 303);
    let web = Web::new(&app);
    assert_eq!(submit_password(&web, &a.email, &a.password).status, 401);
    // The link asks for a new password and a code of the current factor: no new secret.
    let page = web.get(&link);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Nouveau mot de passe pour"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"password\""));
    assert!(!page.body.contains("totp-secret"), "{}", page.body);
    let new_password = "une toute nouvelle phrase";
    let fields = |otp: &str| {
        vec![
            ("password", new_password.to_string()),
            ("password_confirm", new_password.to_string()),
            ("otp", otp.to_string()),
        ]
    };
    let post = |f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        web.submit(&link, &link, &f)
    };
    // A wrong code changes nothing but counts against the account, as at login.
    let r = post(fields("000000"));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("n’est pas le bon"), "{}", r.body);
    // A weak password is refused with the policy's message.
    clock.advance(Duration::seconds(30));
    let weak = vec![
        ("password", "court".to_string()),
        ("password_confirm", "court".to_string()),
        ("otp", code(&a.secret, &clock, 0)),
    ];
    let r = post(weak);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("12 caractères"), "{}", r.body);
    // The right code sets the new password; the second factor is unchanged.
    clock.advance(Duration::seconds(30));
    let r = post(fields(&code(&a.secret, &clock, 0)));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/connexion"));
    assert_eq!(web.get(&link).status, 404, "the link is spent");
    let renewed = Account {
        password: new_password.into(),
        ..a
    };
    assert_eq!(login(&Web::new(&app), &clock, &renewed).status, 303);
    let actions = journal_actions(&app.store);
    let reset = actions.iter().position(|x| x == "account.password_reset");
    let changed = actions.iter().position(|x| x == "account.password_changed");
    assert!(reset.is_some() && changed > reset, "{actions:?}");
    assert!(actions.contains(&"login.failed".to_string()), "{actions:?}");
}

#[test]
fn a_password_reset_link_locks_after_wrong_codes_and_never_enrols_a_new_factor() {
    let (app, clock, _, m, a) = team(16);
    let manager = logged_in(&app, &clock, &m);
    let path = format!("/gestion/comptes/{}/mot-de-passe", a.user.id);
    assert_eq!(manager.submit(&path, &path, &[]).status, 303);
    let link = reset_link_mailed(&app, &a.email);
    let web = Web::new(&app);
    let new_password = "une toute nouvelle phrase";
    // Whoever holds the link cannot swap in an app of their own: a code of a new secret
    // is just a wrong code.
    let intruder = totp::new_secret();
    let mut last = web.get(&link);
    for _ in 0..5 {
        clock.advance(Duration::seconds(30));
        let otp = code(&intruder, &clock, 0);
        last = web.submit(
            &link,
            &link,
            &[
                ("password", new_password),
                ("password_confirm", new_password),
                ("otp", &otp),
            ],
        );
        assert_eq!(last.status, 400);
    }
    assert!(last.body.contains("bloqué"), "{}", last.body);
    // Locked: even the right code waits for the end of the lock.
    clock.advance(Duration::seconds(30));
    let otp = code(&a.secret, &clock, 0);
    let r = web.submit(
        &link,
        &link,
        &[
            ("password", new_password),
            ("password_confirm", new_password),
            ("otp", &otp),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("bloqué"), "{}", r.body);
    let actions = journal_actions(&app.store);
    assert!(
        actions.contains(&"account.locked".to_string()),
        "{actions:?}"
    );
    assert!(!actions.contains(&"account.password_changed".to_string()));
    assert!(!actions.contains(&"account.enrolled".to_string()));
    // After the lock, the right code works.
    clock.advance(Duration::minutes(16));
    let otp = code(&a.secret, &clock, 0);
    let r = web.submit(
        &link,
        &link,
        &[
            ("password", new_password),
            ("password_confirm", new_password),
            ("otp", &otp),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
}

#[test]
fn physical_totp_cards_are_imported_assigned_and_unassigned() {
    let (app, clock, _, m, a) = team(14);
    // Import through the real binary.
    let seed = totp::new_secret();
    let csv = app.db.dir.path().join("cards.csv");
    std::fs::write(
        &csv,
        format!(
            "serial,seed\nCARD-0001,{}\nCARD-0002,{}\n",
            totp::to_base32(&seed),
            hex::encode(totp::new_secret())
        ),
    )
    .expect("csv");
    let csv_path = csv.to_str().expect("utf-8");
    let import = ["totp-card", "import", csv_path, "--json"];
    let (status, out) = run_procura(&app.db.url, &import, None);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("\"imported\":2"));
    // A bad file imports nothing.
    std::fs::write(
        &csv,
        "CARD-0003,JBSWY3DPEHPK3PXPJBSWY3DP\nCARD-0004,not-a-seed!\n",
    )
    .expect("csv");
    let (status, _) = run_procura(&app.db.url, &import[..3], None);
    assert_eq!(status, Some(2));
    let manager = logged_in(&app, &clock, &m);
    let page = format!("/gestion/comptes/{}", a.user.id);
    let action = format!("{page}/carte");
    // A wrong code does not assign the card.
    let r = manager.submit(
        &page,
        &action,
        &[("serial", "CARD-0001"), ("otp", "000000")],
    );
    assert_eq!(r.status, 400);
    let r = manager.submit(
        &page,
        &action,
        &[("serial", "CARD-0001"), ("otp", &code(&seed, &clock, 0))],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // The aidant can now log in with the card's codes.
    let with_card = Account {
        secret: seed.clone(),
        ..a.clone()
    };
    assert_eq!(login(&Web::new(&app), &clock, &with_card).status, 303);
    // Unassign after confirmation: the card stops working.
    let un = format!("{page}/retirer-carte");
    assert!(manager.get(&un).body.contains("Retirer la carte"));
    assert_eq!(manager.submit(&un, &un, &[]).status, 303);
    let web = Web::new(&app);
    let r = try_login(&web, &clock, &a, &seed);
    assert_eq!(r.status, 401);
    let actions = journal_actions(&app.store);
    for x in [
        "totp_card.imported",
        "totp_card.assigned",
        "totp_card.unassigned",
    ] {
        assert!(actions.contains(&x.to_string()), "{x}");
    }
}

/// The path of the last link e-mailed to `email` (a password reset's goes by e-mail only).
fn reset_link_mailed(app: &TestApp, email: &str) -> String {
    let mail = mails_of_kind(&app.store, "aidant.enrolment")
        .into_iter()
        .rev()
        .find(|m| m.recipient == email)
        .expect("a link e-mailed");
    assert_eq!(mail.subject, "Choisissez un nouveau mot de passe Procura");
    assert!(
        mail.body_text.contains("qui ne changent pas"),
        "{}",
        mail.body_text
    );
    let at = mail
        .body_text
        .find("/activation/")
        .expect("link in the mail");
    mail.body_text[at..]
        .split_whitespace()
        .next()
        .expect("link")
        .to_string()
}

fn link_in(body: &str) -> String {
    between(body, "id=\"enrolment-link\" href=\"", "\"")
}

#[test]
fn a_change_that_changes_nothing_is_not_journaled() {
    let (app, clock, _s, m, target) = team(40);
    let manager = logged_in(&app, &clock, &m);
    let t = target.user.id.as_str();
    let act = |action: &str| {
        let r = manager.submit("/gestion", &format!("/gestion/comptes/{t}/{action}"), &[]);
        assert_eq!(r.status, 303, "{action}: {}", r.body);
        manager.get(&format!("/gestion/comptes/{t}")).body
    };
    let unchanged = |action: &str, says: &str| {
        let before = journal_actions(&app.store).len();
        let page = act(action);
        assert!(page.contains(says), "{action}: {page}");
        let after = journal_actions(&app.store).len();
        assert_eq!(after, before, "{action}: nothing journaled");
    };
    assert!(act("desactiver").contains("Le compte est désactivé."));
    unchanged("desactiver", "déjà désactivé");
    assert!(act("reactiver").contains("Le compte est réactivé."));
    unchanged("reactiver", "déjà actif");
    unchanged("retirer-carte", "pas de carte");
    let actions = journal_actions(&app.store);
    assert_eq!(count_of(&actions, "account.deactivated"), 1);
    assert_eq!(count_of(&actions, "account.reactivated"), 1);
}

#[test]
fn a_manager_acts_only_within_the_structure() {
    let (app, clock, a, m, _) = team(41);
    let b = structure(&app.store, &clock, "B", 42);
    // An aidant of both structures, acting for B.
    let shared = member(&app, &clock, "shared@exemple.fr", &[Role::Aidant], &b);
    add_membership(&app.store, &shared.user.id, &a.id);
    let manager = logged_in(&app, &clock, &m);
    let sid = shared.user.id.as_str();
    let before = journal_actions(&app.store).len();
    for action in ["second-facteur", "desactiver"] {
        let r = manager.submit("/gestion", &format!("/gestion/comptes/{sid}/{action}"), &[]);
        assert_eq!(r.status, 403, "{action}: {}", r.body);
        assert!(r.body.contains("administrateur"), "{}", r.body);
    }
    let row = user_row(&app.store, sid);
    assert!(row.active && row.totp_secret_enc.is_some(), "unchanged");
    assert_eq!(
        journal_actions(&app.store).len(),
        before,
        "nothing journaled"
    );
    // Removing the aidant from A leaves the account, and B, as they were.
    let r = manager.submit("/gestion", &format!("/gestion/comptes/{sid}/retirer"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let row = user_row(&app.store, sid);
    assert!(row.active);
    assert_eq!(row.current_structure_id.as_deref(), Some(b.id.as_str()));
    assert_eq!(manager.get(&format!("/gestion/comptes/{sid}")).status, 404);
    assert!(journal_has(
        &app.store,
        "account.removed_from_structure",
        sid
    ));
    assert_eq!(
        login(&Web::new(&app), &clock, &shared).status,
        303,
        "still logs in"
    );
    // An account of A only that the operator deactivated: not the manager's to reactivate,
    // and its lock stays.
    let alone = member(&app, &clock, "alone@exemple.fr", &[Role::Aidant], &a);
    let mut conn = app.store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        users::set_active(c, clock.now(), "cli", None, &alone.user.id, false)
    })
    .expect("deactivated by the operator");
    drop(conn);
    let r = manager.submit(
        "/gestion",
        &format!("/gestion/comptes/{}/reactiver", alone.user.id),
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!user_row(&app.store, &alone.user.id).active);
    // One the manager's structure deactivated: theirs to reactivate.
    let path = |action: &str| format!("/gestion/comptes/{}/{action}", alone.user.id);
    let mut conn = app.store.conn().expect("conn");
    write_tx(&mut conn, |c| {
        users::set_active(c, clock.now(), "cli", None, &alone.user.id, true)
    })
    .expect("reactivated by the operator");
    drop(conn);
    assert_eq!(
        manager.submit("/gestion", &path("desactiver"), &[]).status,
        303
    );
    assert_eq!(
        manager.submit("/gestion", &path("reactiver"), &[]).status,
        303
    );
    assert!(user_row(&app.store, &alone.user.id).active);
}

#[test]
fn adding_an_aidant_whose_email_exists_elsewhere_leaks_nothing() {
    let (app, clock, _a, m, _) = team(43);
    let b = structure(&app.store, &clock, "B", 44);
    member(&app, &clock, "elsewhere@exemple.fr", &[Role::Aidant], &b);
    let manager = logged_in(&app, &clock, &m);
    let before = journal_actions(&app.store).len();
    let r = add_aidant(&manager, "Elsewhere@exemple.fr", "Quelqu’un");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!r.body.contains("existe"), "{}", r.body);
    assert!(r.body.contains("Aucun compte n’a été créé"), "{}", r.body);
    assert_eq!(journal_actions(&app.store).len(), before);
    assert_eq!(count_rows(&app.store, "users"), 3);
}

/// An aidant who has not activated the account is badged as pending, and the manager can
/// send a new link (confirmation page, CSRF, e-mail) without resetting anything else.
#[test]
fn a_pending_account_gets_a_new_activation_link() {
    let (app, clock) = app_with_clock(&[]);
    let manager = new_manager(&app, &clock, "S", 41, "m@exemple.fr");
    let r = add_aidant(&manager, "lente@exemple.fr", "Aidante Lente");
    assert_eq!(r.status, 200, "{}", r.body);
    let first = link_in(&r.body);
    let id = {
        let mut conn = app.store.conn().expect("conn");
        users::find_by_email(&mut conn, "lente@exemple.fr")
            .expect("q")
            .expect("created")
            .id
    };
    let list = manager.get("/gestion");
    let row = between(&list.body, "<td>Aidante Lente</td>", "</tr>");
    assert!(row.contains("en attente d’activation"), "{row}");
    assert!(!row.contains(">actif<"), "{row}");
    let me = between(&list.body, "<td>m@exemple.fr</td>", "</tr>");
    assert!(me.contains(">actif<"), "an enrolled account: {me}");
    let page = manager.get(&format!("/gestion/comptes/{id}"));
    assert!(page.body.contains("en attente d’activation"));
    let path = format!("/gestion/comptes/{id}/nouveau-lien");
    assert!(page.body.contains(&format!("href=\"{path}\"")));

    let confirm = manager.get(&path);
    assert_eq!(confirm.status, 200);
    assert!(confirm
        .body
        .contains("Envoyer un nouveau lien d’activation"));
    assert_eq!(manager.post(&path, &[]).status, 403, "CSRF");
    let before = mails_of_kind(&app.store, "aidant.enrolment").len();
    let issued = count_of(&journal_actions(&app.store), "enrolment.issued");
    let r = manager.submit(&path, &path, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Nouveau lien d’activation"));
    assert!(r.body.contains("data-copie=\"enrolment-link-field\""));
    let second = link_in(&r.body);
    assert_ne!(first, second);
    let mails = mails_of_kind(&app.store, "aidant.enrolment");
    assert_eq!(mails.len(), before + 1);
    let token = second.rsplit('/').next().expect("token");
    // Both mails are queued at the same (fixed) time: their order is not defined.
    assert!(mails.iter().any(|m| m.body_text.contains(token)), "mailed");
    // Only the newest link works; the account is otherwise as it was.
    let web = Web::new(&app);
    assert_eq!(web.get(first.trim_start_matches(&app.base)).status, 404);
    assert_eq!(web.get(second.trim_start_matches(&app.base)).status, 200);
    let user = user_row(&app.store, &id);
    assert!(user.active);
    assert_eq!(user.name, "Aidante Lente");
    assert_eq!(
        count_of(&journal_actions(&app.store), "enrolment.issued"),
        issued + 1
    );
    assert!(user.totp_secret_enc.is_none());
}

/// An account that completed its enrolment gets no new link: nothing is sent.
#[test]
fn an_enrolled_account_gets_no_new_activation_link() {
    let (app, clock, _, m, a) = team(42);
    let manager = logged_in(&app, &clock, &m);
    let page = manager.get(&format!("/gestion/comptes/{}", a.user.id));
    assert!(!page.body.contains("nouveau-lien"));
    let path = format!("/gestion/comptes/{}/nouveau-lien", a.user.id);
    let mails = mails_of_kind(&app.store, "aidant.enrolment").len();
    let issued = count_of(&journal_actions(&app.store), "enrolment.issued");
    let r = manager.submit(&path, &path, &[]);
    assert_eq!(r.status, 303);
    assert!(manager
        .get(&format!("/gestion/comptes/{}", a.user.id))
        .body
        .contains("déjà activé"));
    assert_eq!(mails_of_kind(&app.store, "aidant.enrolment").len(), mails);
    assert_eq!(
        count_of(&journal_actions(&app.store), "enrolment.issued"),
        issued
    );
}
