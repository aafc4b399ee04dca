//! Health, readiness, metrics, security headers and error pages.

use crate::helpers::*;

#[test]
fn healthz_and_readyz_answer() {
    let app = TestApp::spawn();
    let r = get(&app.url("/healthz"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = get(&app.url("/readyz"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready");
}

#[test]
fn readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn();
    assert_eq!(get(&app.url("/readyz")).status, 200);
    if let Some(path) = app.db.sqlite_path() {
        std::fs::remove_file(&path).expect("remove database file");
    } else {
        app.db.drop_pg_now();
    }
    let r = get(&app.url("/readyz"));
    assert_eq!(r.status, 503, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "unavailable");
    assert!(
        !v["reason"].as_str().unwrap_or_default().is_empty(),
        "a reason is given: {v}"
    );
    // Liveness does not depend on the database.
    assert_eq!(get(&app.url("/healthz")).status, 200);
}

#[test]
fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn();
    for _ in 0..3 {
        assert_eq!(get(&app.url("/healthz")).status, 200);
    }
    assert_eq!(get(&app.url("/no/such/page")).status, 404);
    let r = get(&app.url("/metrics"));
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    let body = &r.body;
    assert!(
        body.contains(
            r#"procura_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{body}"
    );
    assert!(
        body.contains(
            r#"procura_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{body}"
    );
    assert!(body.contains("procura_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\""));
    assert!(body.contains("procura_db_pool_max_connections 8"), "{body}");
    // Start-up is journaled: the gauge reads the chain head.
    let n = journal_actions(&app.store).len();
    assert!(n >= 1);
    assert!(
        body.contains(&format!("procura_journal_entries {n}")),
        "{body}"
    );
}

fn assert_security_headers(r: &Resp) {
    let csp = r.header("content-security-policy").expect("CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("referrer-policy").is_some());
    assert!(r.header("permissions-policy").is_some());
    assert!(
        r.header("x-request-id")
            .map(|v| v.len() >= 32)
            .unwrap_or(false),
        "request id header"
    );
}

#[test]
fn every_response_has_security_headers_and_hsts_only_on_https() {
    let app = TestApp::spawn();
    for path in [
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/procura.css",
        "/missing",
    ] {
        let r = get(&app.url(path));
        assert_security_headers(&r);
        assert!(
            r.header("strict-transport-security").is_none(),
            "no HSTS over http ({path})"
        );
    }
    let https = TestApp::builder()
        .env(&[("PROCURA_PUBLIC_URL", "https://procura.example.fr")])
        .spawn();
    let r = get(&https.url("/healthz"));
    assert_security_headers(&r);
    assert!(r
        .header("strict-transport-security")
        .unwrap_or_default()
        .contains("max-age="));
}

#[test]
fn unknown_routes_get_a_french_page_or_json() {
    let app = TestApp::spawn();
    let r = send(
        client()
            .get(&app.url("/nulle-part"))
            .set("Accept", "text/html"),
    );
    assert_eq!(r.status, 404);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    assert!(r.body.contains("Page introuvable"), "{}", r.body);
    assert!(r.body.contains("lang=\"fr\""));
    let r = send(
        client()
            .get(&app.url("/nulle-part"))
            .set("Accept", "application/json"),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    // A wrong method on a known route is an error page too, never an empty body.
    let r = send_body(
        client()
            .post(&app.url("/healthz"))
            .set("Content-Type", "application/json"),
        "{not json",
    );
    // (or 415: a JSON body is refused before routing, forms are the only bodies taken)
    assert!(
        r.status == 404 || r.status == 405 || r.status == 415,
        "{}",
        r.status
    );
    assert!(!r.body.is_empty());
    // A malformed request line or header never crashes the service.
    let r = send(client().get(&app.url("/%ff%fe")));
    assert_eq!(r.status, 404);
    assert_eq!(get(&app.url("/healthz")).status, 200);
}

#[test]
fn startup_and_graceful_shutdown_are_journaled() {
    let mut app = TestApp::spawn();
    assert_eq!(get(&app.url("/healthz")).status, 200);
    let store = app.store.clone();
    app.stop();
    let actions = journal_actions(&store);
    // The first start also creates the signing key and the checkpoints' key; then the
    // service starts.
    assert_eq!(count_of(&actions, "service.started"), 1, "{actions:?}");
    assert_eq!(count_of(&actions, "journal.key_created"), 1, "{actions:?}");
    assert!(
        actions.iter().all(|a| [
            "keys.generated",
            "journal.key_created",
            "service.started",
            "service.stopped"
        ]
        .contains(&a.as_str())),
        "{actions:?}"
    );
    assert_eq!(actions.last().map(String::as_str), Some("service.stopped"));
    let mut conn = store.conn().expect("conn");
    assert!(procura::journal::verify(&mut conn).expect("verify").intact);
}

#[test]
fn error_pages_during_a_session_show_the_logged_in_account() {
    let (app, clock, s, a) = lone_aidant(7);
    let web = Web::new(&app);
    let r = login(&web, &clock, &a);
    assert_eq!(r.status, 303, "{}", r.body);
    let header = format!(
        "<span class=\"fr-text\">{} — {}</span>",
        a.user.name, s.name
    );
    // An unknown address (404), a page of another role (403), and errors raised before
    // any handler loads the session: a NUL character refused by the body guard (400), a
    // malformed query string (400).
    for (path, status, title) in [
        ("/nulle-part", 404, "Page introuvable"),
        ("/gestion", 403, "Accès refusé"),
        ("/espace?q=%00", 400, "Requête invalide"),
        (
            "/notifications/arret?usager=a&usager=b",
            400,
            "Paramètres d’adresse invalide",
        ),
    ] {
        let r = web.get(path);
        assert_eq!(r.status, status, "{path}");
        assert!(r.body.contains(title), "{path}: {}", r.body);
        assert!(r.body.contains(&header), "{path}: {}", r.body);
        assert!(
            r.body
                .contains("<form method=\"post\" action=\"/deconnexion\">"),
            "{path}: {}",
            r.body
        );
        assert!(r.body.contains("Se déconnecter"), "{path}");
        assert!(
            !r.body.contains("href=\"/connexion\">Se connecter"),
            "{path}"
        );
    }
    // The person's pages never show the aidant's account, even in the same browser.
    for path in ["/moi/nulle-part", "/consentement/inconnu?x=%00"] {
        let r = web.get(path);
        assert!(r.status >= 400, "{path}: {}", r.status);
        assert!(!r.body.contains(&header), "{path}: {}", r.body);
        assert!(!r.body.contains(&a.user.name), "{path}: {}", r.body);
    }
    // Without a session, the same pages offer the login link.
    let anonymous = Web::new(&app).get("/nulle-part");
    assert_eq!(anonymous.status, 404);
    assert!(anonymous.body.contains("href=\"/connexion\">Se connecter"));
    assert!(!anonymous.body.contains("Se déconnecter"));
}
