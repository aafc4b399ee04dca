//! Logging in and out (`/connexion`, `/connexion/code`, `/deconnexion`): two factors,
//! one message for every refusal, lockout, rate limits, CSRF, session cookies and expiry.

use chrono::Duration;
use procura::accounts::totp;
use procura::accounts::users;
use procura::clock::Clock;
use procura::crypto::SecretBox;
use procura::domain::roles::Role;
use procura::store::write_tx;

use crate::helpers::*;

#[test]
fn login_with_password_and_code_reaches_the_home_page() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Nord", 1);
    let a = member(&app, &clock, "aidant@exemple.fr", &[Role::Aidant], &s);
    let web = Web::new(&app);
    let before = web.session_cookie();
    let r = login(&web, &clock, &a);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/espace"));
    let after = web.session_cookie();
    assert!(
        before.is_none() || before != after,
        "session id rotated at login"
    );
    let home = web.get("/espace");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("France Services Nord"), "{}", home.body);
    let actions = journal_actions(&app.store);
    assert!(
        actions.contains(&"login.succeeded".to_string()),
        "{actions:?}"
    );
    assert!(user_row(&app.store, &a.user.id).last_login.is_some());
    // The TOTP secret is stored encrypted: the column is not the secret in any encoding.
    let stored = user_row(&app.store, &a.user.id)
        .totp_secret_enc
        .expect("stored");
    assert!(!stored.contains(&totp::to_base32(&a.secret)));
    assert!(!stored.contains(&hex::encode(&a.secret)));
    let opened = SecretBox::new(Some(TEST_KEY))
        .open(&format!("totp:{}", a.user.id), &stored)
        .expect("decrypts");
    assert_eq!(opened, a.secret);
}

#[test]
fn session_cookie_flags_and_host_prefix_on_https() {
    let (app, _) = app_with_clock(&[("PROCURA_PUBLIC_URL", "https://procura.example.fr")]);
    let r = get(&app.url("/connexion"));
    let cookie = r.header("set-cookie").expect("session cookie");
    assert!(cookie.starts_with("__Host-procura_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    let (app, _) = app_with_clock(&[]);
    let cookie = get(&app.url("/connexion"))
        .header("set-cookie")
        .expect("cookie")
        .to_string();
    assert!(
        cookie.starts_with("procura_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );
}

#[test]
fn totp_window_and_replay() {
    let (app, clock) = app_with_clock(&[("PROCURA_LOCKOUT_THRESHOLD", "50")]);
    let s = structure(&app.store, &clock, "S", 2);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let password_step = |web: &Web| submit_password(web, &a.email, PASSWORD).status;
    let try_code = |delta: i64| -> u16 {
        let web = Web::new(&app);
        clock.advance(Duration::seconds(90));
        assert_eq!(password_step(&web), 303);
        let c = code(&a.secret, &clock, delta);
        web.submit("/connexion/code", "/connexion/code", &[("otp", &c)])
            .status
    };
    assert_eq!(try_code(-2), 401, "two steps behind refused");
    assert_eq!(try_code(2), 401, "two steps ahead refused");
    assert_eq!(try_code(-1), 303, "one step behind accepted");
    assert_eq!(try_code(1), 303, "one step ahead accepted");
    assert_eq!(try_code(0), 303, "current step accepted");
    // The same code twice: the second is a replay.
    clock.advance(Duration::seconds(90));
    let c = code(&a.secret, &clock, 0);
    let web1 = Web::new(&app);
    assert_eq!(password_step(&web1), 303);
    assert_eq!(
        web1.submit("/connexion/code", "/connexion/code", &[("otp", &c)])
            .status,
        303
    );
    let web2 = Web::new(&app);
    assert_eq!(password_step(&web2), 303);
    let r = web2.submit("/connexion/code", "/connexion/code", &[("otp", &c)]);
    assert_eq!(r.status, 401, "replayed code refused");
    assert!(journal_has(&app.store, "login.failed", "replayed_code"));
}

#[test]
fn one_generic_message_for_every_refusal() {
    let (app, clock, s, a) = lone_aidant(3);
    let inactive = member(&app, &clock, "b@exemple.fr", &[Role::Aidant], &s);
    {
        let mut conn = app.store.conn().expect("conn");
        write_tx(&mut conn, |c| {
            users::set_active(c, clock.now(), "test", None, &inactive.user.id, false)
        })
        .expect("deactivate");
    }
    let refusal = |email: &str, password: &str| {
        let web = Web::new(&app);
        let r = submit_password(&web, email, password);
        assert_eq!(r.status, 401, "{email}");
        let i = r.body.find("id=\"login-error\"").expect("error shown");
        r.body[i..i + 200].to_string()
    };
    let unknown = refusal("nobody@exemple.fr", PASSWORD);
    let wrong = refusal(&a.email, "wrong password 123");
    let deactivated = refusal(&inactive.email, PASSWORD);
    assert_eq!(unknown, wrong);
    assert_eq!(wrong, deactivated);
    // The message states the real threshold and lock duration, and ties itself to the fields.
    assert!(
        wrong.contains(
            "Identifiants incorrects, ou compte bloqué ou désactivé. Vérifiez votre saisie ; après 5 échecs, le compte est bloqué pendant 15 minutes."
        ),
        "{wrong}"
    );
    assert!(!wrong.contains("quelques minutes"));
    let web = Web::new(&app);
    let r = submit_password(&web, &a.email, "wrong password 123");
    assert_eq!(
        r.body
            .matches("aria-invalid=\"true\" aria-describedby=\"login-error\"")
            .count(),
        2
    );
}

#[test]
fn a_wrong_code_after_the_right_password_says_so() {
    let (app, clock, _, a) = lone_aidant(3);
    let web = Web::new(&app);
    clock.advance(Duration::seconds(30));
    submit_password(&web, &a.email, PASSWORD);
    let r = web.submit("/connexion/code", "/connexion/code", &[("otp", "000000")]);
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains(
            "<p id=\"otp-error\">Le code à 6 chiffres n’est pas le bon, ou a déjà servi. Saisissez le code affiché maintenant (il change toutes les 30 secondes) ; si les codes sont toujours refusés, vérifiez que l’heure de votre téléphone est exacte (réglage automatique).</p>"
        ),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("aria-invalid=\"true\" aria-describedby=\"otp-error\""),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Identifiants incorrects"));
    // Still at the code stage: the right code now logs in.
    let r = web.submit(
        "/connexion/code",
        "/connexion/code",
        &[("otp", &code(&a.secret, &clock, 0))],
    );
    assert_eq!(r.status, 303, "{}", r.body);
}

#[test]
fn an_account_locked_at_the_code_stage_is_told_until_when() {
    let (app, clock) = app_with_clock(&[("PROCURA_LOCKOUT_MINUTES", "20")]);
    let s = structure(&app.store, &clock, "S", 3);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let web = Web::new(&app);
    clock.advance(Duration::seconds(30));
    assert_eq!(submit_password(&web, &a.email, PASSWORD).status, 303);
    let mut last = None;
    for _ in 0..5 {
        last = Some(web.submit("/connexion/code", "/connexion/code", &[("otp", "000000")]));
    }
    let r = last.expect("answered");
    assert_eq!(r.status, 401);
    let until = (clock.now() + Duration::minutes(20)).naive_utc();
    let expected = format!(
        "Trop d’essais : votre compte est bloqué pendant 20 minutes, jusqu’au {}. Si ce n’est pas vous qui avez fait ces essais, ou si vous avez perdu votre téléphone, prévenez le responsable de votre structure.",
        procura::domain::french::day_and_time(until)
    );
    assert!(r.body.contains(&expected), "{expected}\n{}", r.body);
    // Back at the start; the password stage keeps the one message, even with the right password.
    let r = web.get("/connexion/code");
    assert_eq!(r.status, 303);
    let r = submit_password(&web, &a.email, PASSWORD);
    assert_eq!(r.status, 401);
    assert!(
        r.body
            .contains("après 5 échecs, le compte est bloqué pendant 20 minutes."),
        "{}",
        r.body
    );
    assert!(!r.body.contains("jusqu’au"));
}

#[test]
fn the_login_page_says_whom_to_ask_for_a_lost_phone_or_password() {
    let (app, _clock) = app_with_clock(&[]);
    let r = Web::new(&app).get("/connexion");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(
        "<a class=\"fr-link\" href=\"#aide\">Téléphone perdu ou mot de passe oublié ?</a>"
    ));
    assert!(r.body.contains("<section id=\"aide\""));
    assert!(r.body.contains("Adressez-vous au responsable de votre structure : c’est lui qui gère les comptes, depuis sa page « Gestion »."));
    assert!(r.body.contains(
        "il réinitialise votre second facteur, et vous recevez un nouveau lien d’activation"
    ));
    // No error: no field is marked invalid.
    assert!(!r.body.contains("aria-invalid"));
}

#[test]
fn lockout_after_five_failures_then_unlock_after_the_delay() {
    let (app, clock, _, a) = lone_aidant(4);
    let web = Web::new(&app);
    for _ in 0..5 {
        let r = submit_password(&web, &a.email, "not the password");
        assert_eq!(r.status, 401);
    }
    let row = user_row(&app.store, &a.user.id);
    assert!(row.locked_until.is_some(), "locked after 5 failures");
    // Locked: even the right password and code are refused.
    let r = submit_password(&web, &a.email, PASSWORD);
    assert_eq!(r.status, 401);
    // 15 minutes later the account works again.
    clock.advance(Duration::minutes(15) + Duration::seconds(1));
    let r = login(&Web::new(&app), &clock, &a);
    assert_eq!(r.status, 303, "{}", r.body);
    let actions = journal_actions(&app.store);
    let failures = count_of(&actions, "login.failed");
    assert_eq!(failures, 6, "{actions:?}");
    let order: Vec<&str> = actions
        .iter()
        .map(String::as_str)
        .filter(|a| {
            matches!(
                *a,
                "account.locked" | "account.unlocked" | "login.succeeded"
            )
        })
        .collect();
    assert_eq!(
        order,
        vec!["account.locked", "account.unlocked", "login.succeeded"]
    );
    assert_eq!(user_row(&app.store, &a.user.id).failed_logins, 0);
}

#[test]
fn lockout_settings_are_configurable() {
    let (app, clock) = app_with_clock(&[
        ("PROCURA_LOCKOUT_THRESHOLD", "2"),
        ("PROCURA_LOCKOUT_MINUTES", "1"),
    ]);
    let s = structure(&app.store, &clock, "S", 5);
    let a = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let web = Web::new(&app);
    for _ in 0..2 {
        submit_password(&web, &a.email, "not the password");
    }
    let until = user_row(&app.store, &a.user.id)
        .locked_until
        .expect("locked");
    assert_eq!(until, (clock.now() + Duration::minutes(1)).naive_utc());
}

#[test]
fn attempts_per_client_address_are_rate_limited() {
    let (app, clock) = app_with_clock(&[("PROCURA_LOGIN_RATE_LIMIT", "3")]);
    let _ = &clock;
    let web = Web::new(&app);
    for i in 0..3 {
        let r = submit_password(&web, &format!("x{i}@exemple.fr"), "whatever it is");
        assert_eq!(r.status, 401);
    }
    let r = submit_password(&web, "y@exemple.fr", "whatever it is");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(journal_actions(&app.store).contains(&"login.rate_limited".to_string()));
    clock.advance(Duration::minutes(16));
    let r = submit_password(&web, "y@exemple.fr", "whatever it is");
    assert_eq!(r.status, 401, "window passed");
}

#[test]
fn csrf_missing_or_wrong_is_403_and_changes_nothing() {
    let (app, clock, s, m, target) = team(6);
    let web = logged_in(&app, &clock, &m);
    let before = journal_actions(&app.store).len();
    let deactivate = format!("/gestion/comptes/{}/desactiver", target.user.id);
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/gestion/aidants".into(),
            vec![("email", "new@exemple.fr"), ("name", "Nouvel Aidant")],
        ),
        (deactivate.clone(), vec![]),
        (
            format!("/gestion/comptes/{}/second-facteur", target.user.id),
            vec![],
        ),
        (
            format!("/gestion/comptes/{}/carte", target.user.id),
            vec![("serial", "X"), ("otp", "123456")],
        ),
        (
            "/espace/structure".into(),
            vec![("structure", s.id.as_str())],
        ),
        ("/deconnexion".into(), vec![]),
    ];
    for (path, fields) in &posts {
        let r = web.post(path, fields);
        assert_eq!(r.status, 403, "missing token on {path}");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        let r = web.post(path, &wrong);
        assert_eq!(r.status, 403, "wrong token on {path}");
        assert!(r.body.contains("formulaire"), "{}", r.body);
    }
    assert_eq!(
        journal_actions(&app.store).len(),
        before,
        "nothing journaled"
    );
    assert!(user_row(&app.store, &target.user.id).active);
    let mut conn = app.store.conn().expect("conn");
    assert!(users::find_by_email(&mut conn, "new@exemple.fr")
        .expect("q")
        .is_none());
    drop(conn);
    // Still logged in (logout was refused), and the login form needs its token too.
    assert_eq!(web.get("/espace").status, 200);
    let anon = Web::new(&app);
    let r = anon.post("/connexion", &[("email", &m.email), ("password", PASSWORD)]);
    assert_eq!(r.status, 403);
}

#[test]
fn idle_and_absolute_session_expiry() {
    let (app, clock, _, a) = lone_aidant(7);
    let web = logged_in(&app, &clock, &a);
    clock.advance(Duration::minutes(29));
    assert_eq!(web.get("/espace").status, 200, "29 minutes idle is fine");
    clock.advance(Duration::minutes(31));
    let r = web.get("/espace");
    assert_eq!(r.status, 303, "31 minutes idle ends the session");
    assert_eq!(r.header("location"), Some("/connexion"));
    // Absolute: active every 20 minutes, the session still ends after 12 hours.
    let web = logged_in(&app, &clock, &a);
    for _ in 0..(12 * 3 - 1) {
        clock.advance(Duration::minutes(20));
        assert_eq!(web.get("/espace").status, 200);
    }
    clock.advance(Duration::minutes(21));
    assert_eq!(
        web.get("/espace").status,
        303,
        "12 hours is the absolute limit"
    );
}

#[test]
fn logout_and_deactivation_end_sessions_at_once() {
    let (app, clock, _, m, a) = team(8);
    let aidant = logged_in(&app, &clock, &a);
    assert_eq!(aidant.get("/espace").status, 200);
    let manager = logged_in(&app, &clock, &m);
    let path = format!("/gestion/comptes/{}/desactiver", a.user.id);
    let confirm = manager.get(&path);
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Désactiver le compte"));
    let r = manager.submit(&path, &path, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        aidant.get("/espace").status,
        303,
        "the aidant's open session ended"
    );
    assert!(!user_row(&app.store, &a.user.id).active);
    // Logout.
    let r = manager.submit("/espace", "/deconnexion", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(manager.get("/espace").status, 303);
    let actions = journal_actions(&app.store);
    assert!(actions.contains(&"account.deactivated".to_string()));
    assert!(actions.contains(&"logout".to_string()));
}

/// Argon2 verifications the service reports in /metrics (`procura_password_verifications_total`,
/// every sample of the counter summed; absent means none yet).
fn password_verifications(app: &TestApp) -> u64 {
    metric_total(app, "procura_password_verifications_total")
}

#[test]
fn unknown_email_costs_as_much_as_a_wrong_password() {
    // Not a timing assertion: tests never measure wall time. The work is counted instead.
    // The dummy hash is a real Argon2id hash with the production parameters...
    let h = procura::accounts::password::dummy_hash();
    assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    // ...and a login with an unknown e-mail verifies against it: one Argon2 verification,
    // exactly as many as a wrong password for a real account. Skipping the dummy
    // verification for unknown e-mails (the timing oracle) makes this fail.
    let (app, _, _, a) = lone_aidant(19);
    let attempt = |email: &str, password: &str| -> u64 {
        let before = password_verifications(&app);
        let r = submit_password(&Web::new(&app), email, password);
        assert_eq!(r.status, 401, "{email}: {}", r.body);
        password_verifications(&app) - before
    };
    let unknown = attempt("nobody@exemple.fr", PASSWORD);
    let wrong = attempt(&a.email, "wrong password 123");
    assert_eq!(wrong, 1, "a wrong password costs one Argon2 verification");
    assert_eq!(
        unknown, wrong,
        "an unknown e-mail costs the same Argon2 verification as a wrong password"
    );
    // Both refusals were journaled as such (the attempts really reached the password step).
    assert!(journal_has(&app.store, "login.failed", "unknown_account"));
    assert!(journal_has(&app.store, "login.failed", "wrong_password"));
}

#[test]
fn housekeeping_purges_expired_sessions_and_old_records() {
    let (app, clock, _, a) = lone_aidant(18);
    let fresh = Web::new(&app);
    let stale = logged_in(&app, &clock, &a);
    let anon = Web::new(&app);
    assert_eq!(
        submit_password(&anon, "x@exemple.fr", "wrong password here").status,
        401
    );
    clock.advance(Duration::hours(25));
    assert_eq!(login(&fresh, &clock, &a).status, 303);
    let policy = procura::config::Layers::load_with_env(None, Vec::<(String, String)>::new())
        .expect("layers")
        .validate(false)
        .expect("settings")
        .session_policy();
    let mut conn = app.store.conn().expect("conn");
    let purged = write_tx(&mut conn, |c| {
        procura::maintenance::purge_expired(c, clock.now(), &policy)
    })
    .expect("purge");
    drop(conn);
    assert!(purged.sessions >= 1, "{purged:?}");
    assert_eq!(purged.login_attempts, 1, "{purged:?}");
    assert_eq!(fresh.get("/espace").status, 200, "a live session stays");
    assert_eq!(stale.get("/espace").status, 303);
    assert!(journal_actions(&app.store).contains(&"maintenance.purged".to_string()));
    // Nothing left to purge: no entry.
    let before = journal_actions(&app.store).len();
    let mut conn = app.store.conn().expect("conn");
    let again = write_tx(&mut conn, |c| {
        procura::maintenance::purge_expired(c, clock.now(), &policy)
    })
    .expect("purge");
    drop(conn);
    assert_eq!(again, procura::maintenance::Purged::default());
    assert_eq!(journal_actions(&app.store).len(), before);
}

#[test]
fn a_rate_limited_address_is_journaled_once_per_window() {
    let (app, clock) = app_with_clock(&[("PROCURA_LOGIN_RATE_LIMIT", "2")]);
    let web = Web::new(&app);
    let attempt =
        |i: usize| submit_password(&web, &format!("x{i}@exemple.fr"), "whatever it is").status;
    let statuses: Vec<u16> = (0..8).map(attempt).collect();
    assert_eq!(statuses, [401, 401, 429, 429, 429, 429, 429, 429]);
    let limited = |store| count_of(&journal_actions(store), "login.rate_limited");
    assert_eq!(limited(&app.store), 1, "one entry for the whole burst");
    // The next window: limited again, journaled once more.
    clock.advance(Duration::minutes(16));
    let statuses: Vec<u16> = (0..5).map(attempt).collect();
    assert_eq!(statuses, [401, 401, 429, 429, 429]);
    assert_eq!(limited(&app.store), 2);
}

#[test]
fn parallel_wrong_passwords_from_one_address_get_exactly_the_limit() {
    // Default limit: 30 failures per address per window; 60 attempts at once.
    let (app, _clock) = app_with_clock(&[]);
    let web = Web::new(&app);
    let token = web.csrf("/connexion");
    let verified = password_verifications(&app);
    let answers = in_parallel(60, |i| {
        web.post(
            "/connexion",
            &[
                ("email", &format!("p{i}@exemple.fr")),
                ("password", "whatever it is"),
                ("csrf_token", &token),
            ],
        )
    });
    let count = |s: u16| answers.iter().filter(|r| r.status == s).count();
    assert_eq!(
        (count(401), count(429)),
        (30, 30),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // Only the attempts under the limit cost a password check.
    assert_eq!(password_verifications(&app) - verified, 30);
    assert_eq!(
        count_rows(&app.store, "login_attempts"),
        31,
        "30 failures and one mark"
    );
    assert_eq!(
        count_of(&journal_actions(&app.store), "login.rate_limited"),
        1
    );
}

#[test]
fn parallel_wrong_codes_on_one_session_check_exactly_the_threshold() {
    let (app, clock, _, a) = lone_aidant(30);
    let web = Web::new(&app);
    clock.advance(Duration::seconds(30));
    let r = submit_password(&web, &a.email, &a.password);
    assert_eq!(r.status, 303, "{}", r.body);
    let token = web.csrf("/connexion/code");
    let right = code(&a.secret, &clock, 0);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().expect("digits") + 500_000) % 1_000_000
    );
    let answers = in_parallel(60, |_| {
        web.post(
            "/connexion/code",
            &[("otp", &wrong), ("csrf_token", &token)],
        )
    });
    assert!(answers.iter().all(|r| r.status != 500), "no failure");
    assert!(answers
        .iter()
        .all(|r| r.status != 303 || r.header("location") == Some("/connexion")));
    // Exactly the threshold of codes were checked; the others met the lock.
    assert_eq!(journal_count(&app.store, "login.failed", "wrong_code"), 5);
    assert_eq!(count_of(&journal_actions(&app.store), "account.locked"), 1);
    let row = user_row(&app.store, &a.user.id);
    assert_eq!(row.failed_logins, 5);
    assert!(row.locked_until.is_some());
}

#[test]
fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Behind a trusted proxy (the tests' peer is 127.0.0.1): each client has its limit.
    let (app, _clock) = app_with_clock(&[
        ("PROCURA_LOGIN_RATE_LIMIT", "2"),
        ("PROCURA_TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
    ]);
    let web = Web::new(&app);
    let attempt = |client: &str| {
        web.submit_with_header(
            "/connexion",
            "/connexion",
            ("X-Forwarded-For", client),
            &[("email", "x@exemple.fr"), ("password", "whatever it is")],
        )
        .status
    };
    // A client cannot escape its limit by writing addresses on the left.
    assert_eq!(attempt("198.51.100.1"), 401);
    assert_eq!(attempt("203.0.113.5, 198.51.100.1"), 401);
    assert_eq!(attempt("203.0.113.6, 198.51.100.1"), 429);
    // Another client behind the same proxy is not locked out.
    assert_eq!(attempt("198.51.100.2"), 401);
    // Without the setting, the header is ignored: everyone is the peer.
    let (app, _clock) = app_with_clock(&[("PROCURA_LOGIN_RATE_LIMIT", "2")]);
    let web = Web::new(&app);
    let statuses: Vec<u16> = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .map(|c| {
            web.submit_with_header(
                "/connexion",
                "/connexion",
                ("X-Forwarded-For", c),
                &[("email", "x@exemple.fr"), ("password", "whatever it is")],
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [401, 401, 429]);
}
