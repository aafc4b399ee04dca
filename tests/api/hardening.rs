//! Availability and hygiene limits of the HTTP surface and the storage (issue 10):
//! metrics labels, NUL bytes, request heads and bodies, anonymous writes, file modes,
//! SQLite durability, log redaction, closed pipes.

use std::process::Stdio;

use crate::helpers::oidc::{authorize_path, new_req, register};
use crate::helpers::*;

// --- 7. metrics labels ------------------------------------------------------------

#[test]
fn made_up_methods_and_paths_share_fixed_metric_labels() {
    let app = TestApp::spawn();
    for i in 0..20 {
        let r = raw_http(
            &app,
            format!("MADEUP{i} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(r.starts_with("HTTP/1.1 "), "{r}");
        assert_eq!(get(&app.url(&format!("/nowhere/{i}"))).status, 404);
    }
    let body = get(&app.url("/metrics")).body;
    assert!(!body.contains("MADEUP"), "{body}");
    assert!(!body.contains("/nowhere/"), "{body}");
    let other: u64 = body
        .lines()
        .filter(|l| {
            l.starts_with("procura_http_requests_total{") && l.contains(r#"method="other""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(other, 20, "{body}");
    assert!(
        body.contains(
            r#"procura_http_requests_total{method="GET",route="unmatched",status="404"} 20"#
        ),
        "{body}"
    );
}

// --- 8. NUL bytes -----------------------------------------------------------------

#[test]
fn nul_bytes_get_400_in_addresses_and_forms_and_change_nothing() {
    let (app, clock, _s, manager, aidant) = team(10);
    let rp = register(&app.store, &clock, "none", "https://site.example.fr/cb");
    let r = get(&app.url(&format!(
        "/oidc/authorize?client_id=%00&redirect_uri={}&response_type=code&scope=openid",
        rp.redirect
    )));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(get(&app.url("/oidc/interaction/%00")).status, 400);

    let anonymous = Web::new(&app);
    let r = submit_password(&anonymous, "a\0b@exemple.fr", "x");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("caractère nul"), "{}", r.body);

    let web = logged_in(&app, &clock, &manager);
    let entries = journal_actions(&app.store).len();
    let r = web.submit("/espace", "/espace/structure", &[("structure", "\0")]);
    assert_eq!(r.status, 400, "{}", r.body);
    let page = format!("/gestion/comptes/{}", aidant.user.id);
    let r = web.submit(
        &page,
        &format!("{page}/carte"),
        &[("serial", "CARTE\0"), ("otp", "123456")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        journal_actions(&app.store).len(),
        entries,
        "nothing journaled"
    );
    assert_eq!(count_rows(&app.store, "totp_cards"), 0);
}

// --- 9. request heads ---------------------------------------------------------------

#[test]
fn a_huge_query_string_gets_414_not_a_reset() {
    let app = TestApp::spawn();
    let long = "a".repeat(200 * 1024);
    let r = raw_http(
        &app,
        format!("GET /healthz?q={long} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 414"), "{}", &r[..r.len().min(300)]);
    // A long but acceptable request line still works, and the service is fine.
    let ok = raw_http(
        &app,
        format!(
            "GET /healthz?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "b".repeat(4000)
        )
        .as_bytes(),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(get(&app.url("/healthz")).status, 200);
}

// --- 10. request bodies -------------------------------------------------------------

#[test]
fn bodies_are_plain_forms_of_64_kib_at_most() {
    let (app, clock, _s, aidant) = lone_aidant(11);
    let web = logged_in(&app, &clock, &aidant);
    let csrf = web.csrf("/mandats/nouveau");
    let form = format!("csrf_token={csrf}&demarches=social&duration=SHORT&pad=");
    let url = app.url("/mandats/nouveau");
    let post = |ct: &str, body: &str, extra: Option<(&str, &str)>| {
        let mut req = client().post(&url).set("Content-Type", ct).set(
            "Cookie",
            &format!("procura_session={}", web.session_cookie().expect("cookie")),
        );
        if let Some((k, v)) = extra {
            req = req.set(k, v);
        }
        send_body(req, body)
    };
    let entries = journal_actions(&app.store).len();
    // A form sent as text/plain is not a form.
    let r = post("text/plain", &form, None);
    assert_eq!(r.status, 415, "{}", r.body);
    // Over 64 KiB (a raw-body handler used to take 256 KiB).
    let big = format!("{form}{}", "x".repeat(100 * 1024));
    let r = post("application/x-www-form-urlencoded", &big, None);
    assert_eq!(r.status, 413, "{}", r.body);
    // A compressed body is refused, not inflated.
    let r = post(
        "application/x-www-form-urlencoded",
        &form,
        Some(("Content-Encoding", "gzip")),
    );
    assert_eq!(r.status, 415, "{}", r.body);
    assert_eq!(journal_actions(&app.store).len(), entries, "nothing done");
    assert_eq!(count_rows(&app.store, "consent_requests"), 0);
}

// --- 11. anonymous requests ---------------------------------------------------------

#[test]
fn anonymous_requests_write_no_session_unless_a_form_needs_one() {
    let app = TestApp::spawn();
    let before = count_rows(&app.store, "sessions");
    for path in ["/", "/healthz", "/connexion?x=1", "/nulle-part", "/espace"] {
        let _ = get(&app.url(path));
    }
    // Each cookie-less GET of a page without a form writes nothing; the login page has a
    // form, so each of its visits (without a cookie) starts one session.
    assert_eq!(count_rows(&app.store, "sessions"), before + 1);
    for _ in 0..10 {
        let r = get(&app.url("/"));
        assert_eq!(r.status, 200);
        assert!(r.header("set-cookie").is_none(), "{:?}", r.headers);
    }
    assert_eq!(count_rows(&app.store, "sessions"), before + 1);
    // The form's CSRF token works: a wrong password is refused as such, not as CSRF.
    let web = Web::new(&app);
    let r = submit_password(&web, "x@exemple.fr", "not the password");
    assert_eq!(r.status, 401, "{}", r.body);
    // A POST without a session is a CSRF refusal, and writes no session either.
    let n = count_rows(&app.store, "sessions");
    let r = Web::new(&app).post("/connexion", &[("email", "x"), ("password", "y")]);
    assert_eq!(r.status, 403);
    assert_eq!(count_rows(&app.store, "sessions"), n);
}

#[test]
fn pending_authorization_requests_are_bounded_per_address() {
    let (app, clock) = app_with_clock(&[]);
    let rp = register(&app.store, &clock, "none", "https://site.example.fr/cb");
    let limit = procura::federation::provider::interactions::PENDING_PER_ADDRESS;
    for _ in 0..limit {
        let r = get(&app.url(&authorize_path(&rp, &new_req(), "openid", &[])));
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(r
            .header("location")
            .unwrap_or_default()
            .starts_with("/oidc/interaction/"));
    }
    let sessions = count_rows(&app.store, "sessions");
    let r = get(&app.url(&authorize_path(&rp, &new_req(), "openid", &[])));
    assert_eq!(r.status, 302, "back to the client");
    let location = r.header("location").unwrap_or_default();
    assert!(
        location.starts_with("https://site.example.fr/cb?")
            && location.contains("error=temporarily_unavailable"),
        "{location}"
    );
    assert_eq!(count_rows(&app.store, "oidc_interactions"), limit);
    assert_eq!(
        count_rows(&app.store, "sessions"),
        sessions,
        "no session either"
    );
    // Expired requests no longer count.
    clock.advance(chrono::Duration::minutes(16));
    let r = get(&app.url(&authorize_path(&rp, &new_req(), "openid", &[])));
    assert!(r
        .header("location")
        .unwrap_or_default()
        .starts_with("/oidc/interaction/"));
    // A refused prompt=none writes nothing.
    let n = count_rows(&app.store, "sessions");
    let r = get(&app.url(&authorize_path(
        &rp,
        &new_req(),
        "openid",
        &[("prompt", "none")],
    )));
    assert!(r
        .header("location")
        .unwrap_or_default()
        .contains("error=login_required"));
    assert_eq!(count_rows(&app.store, "sessions"), n);
}

// --- 16, 17. the SQLite file --------------------------------------------------------

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_sqlite_database_is_private_to_its_owner() {
    if is_postgres() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let holder = tempfile::tempdir().expect("dir");
    // A folder made by the service, and an existing one left open by an older version.
    let fresh = holder.path().join("new/data");
    let open = holder.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(open.join("procura.db"), b"").expect("touch");
    std::fs::set_permissions(
        open.join("procura.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    for dir in [fresh, open] {
        let db = dir.join("procura.db");
        let url = format!("sqlite://{}", db.display());
        let app = TestApp::builder()
            .env(&[("PROCURA_DATABASE_URL", &url)])
            .spawn();
        assert_eq!(get(&app.url("/readyz")).status, 200);
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for suffix in ["", "-wal", "-shm"] {
            let f = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }
}

#[test]
fn sqlite_syncs_fully_outside_demo_mode() {
    if is_postgres() {
        return;
    }
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    for (demo, expected) in [(false, 2), (true, 1)] {
        let app = TestApp::builder().demo(demo).spawn();
        let mut conn = app.store.conn().expect("conn");
        let s: Sync = diesel::sql_query("PRAGMA synchronous")
            .get_result(&mut *conn)
            .expect("pragma");
        assert_eq!(
            s.synchronous, expected,
            "demo = {demo} (2 = FULL, 1 = NORMAL)"
        );
    }
}

// --- 18. logs, 16 in demo mode ------------------------------------------------------

#[test]
fn logs_carry_no_query_string_and_the_demo_database_is_private() {
    let db = TestDb::new();
    let log = db.dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let (mut child, base) = spawn_demo(&db, Stdio::null(), stderr.into());
    assert!(ready_within_a_minute(&base), "never ready");
    if db.sqlite_path().is_some() {
        let data = db.dir.path().join("data");
        assert_eq!(mode(&data), 0o700);
        for f in ["procura.db", "procura.db-wal", "procura.db-shm"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
        std::fs::remove_file(data.join("procura.db")).expect("remove");
    } else {
        db.drop_pg_now();
    }
    // Readiness fails and logs a WARN line inside the request's span.
    let r = get(&format!(
        "{base}/readyz?code=ONE-TIME-CODE-42&state=ONE-TIME-STATE-42"
    ));
    assert_eq!(r.status, 503);
    sigterm(&child);
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("not ready"), "{text}");
    assert!(text.contains("/readyz"), "{text}");
    assert!(!text.contains("ONE-TIME"), "{text}");
}

// --- 19. a closed pipe --------------------------------------------------------------

#[test]
fn journal_export_into_a_closed_pipe_exits_quietly() {
    // A journal with entries (the service's start).
    let app = TestApp::spawn();
    let mut child = procura(&app.db)
        .args(["journal", "export"])
        .env("PROCURA_MASTER_KEY", TEST_MASTER_KEY_B64)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader is gone before the first line is written (`… | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
