//! Pages in a real headless browser (Chromium through chromedriver), checked with axe-core.

use serde_json::json;

use procura::domain::roles::Role;

use crate::helpers::browser::*;
use crate::helpers::*;

/// The home page and an error page render in a real browser with the expected title and
/// skip link, and axe-core finds no serious or critical violation on them.
#[test]
fn home_and_error_pages_pass_axe() {
    let app = TestApp::spawn();
    let b = browser();
    for path in ["/", "/page-inexistante"] {
        b.goto(&app.url(path));
        let title = b.title();
        assert!(
            title.contains("Procura"),
            "title of {path} is {title:?}, expected it to contain \"Procura\""
        );
        b.find(r##"a[href="#contenu"]"##);
        b.find("#contenu");
        let violations = b.axe_check();
        assert!(
            violations.is_empty(),
            "axe-core found {} serious or critical violation(s) on {path}:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}

/// The demo mailbox shows a message readably and passes axe.
#[test]
fn the_demo_mailbox_passes_axe() {
    let (app, _clock) = demo_app();
    let id = queue_mail(
        &app.store,
        "camille@exemple.fr",
        "Votre lien d’activation Procura",
        "Bonjour,\n\nActivez votre compte : https://procura.exemple.fr/activation/abc\n\nL’équipe Procura",
    );
    wait_outbox(&app.store, |o| {
        o.iter()
            .any(|m| m.id == id && m.status == procura::mail::MailStatus::Sent)
    });
    let b = browser();
    b.goto(&app.url("/demo/courriels"));
    assert!(b.text("main").contains("Votre lien d’activation Procura"));
    assert_accessible(&b, "the demo mailbox");
}

/// The harness itself: the page's CSP blocks inline scripts while WebDriver's scripts
/// still run, and axe_check does report a critical violation when there is one.
#[test]
fn the_harness_sees_csp_and_violations() {
    let app = TestApp::spawn();
    let b = browser();
    b.goto(&app.url("/page-inexistante"));
    assert_eq!(b.text("h1"), "Page introuvable");
    assert!(
        b.source().contains("contenu"),
        "page source lacks the main landmark"
    );
    assert_eq!(
        b.execute("return arguments[0].length;", &[json!([1, 2])]),
        2
    );
    let inline_ran = b.execute(
        "const s = document.createElement('script');
         s.textContent = 'window.inlineRan = true;';
         document.head.appendChild(s);
         return window.inlineRan === true;",
        &[],
    );
    assert_eq!(inline_ran, false, "the page's CSP let an inline script run");
    let bad = "<!doctype html><html lang=fr><title>Mauvais</title><main>\
               <img src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\"></main></html>";
    b.goto(&format!(
        "data:text/html;charset=utf-8,{}",
        percent_encode(bad)
    ));
    let violations = b.axe_check();
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("image-alt (critical)")),
        "axe_check missed the image without alt: {violations:?}"
    );
}

/// An aidant logs in with password and a computed TOTP code and reaches the home page.
#[test]
fn aidant_logs_in_and_reaches_home() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Centre", 21);
    let a = member(&app, &clock, "camille@exemple.fr", &[Role::Aidant], &s);
    let b = browser();
    browser_login(&b, &app, &clock, &a);
    assert!(b.current_url().ends_with("/espace"), "{}", b.current_url());
    assert!(b.text("h1").contains("Bonjour"));
    assert!(b.source().contains("France Services Centre"));
    assert_accessible(&b, "the home page");
}

/// The terms of use: readable without a login, then asked after the first login; the
/// form refuses an unticked box beside it and leads on once ticked; every state passes axe.
#[test]
fn the_terms_of_use_pass_axe_and_are_accepted_in_the_browser() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Est", 23);
    let a = account_before_terms(
        &app.store,
        &clock,
        "dom@exemple.fr",
        &[Role::Aidant],
        Some(&s),
    );
    let b = browser();
    b.goto(&app.url("/conditions"));
    assert!(b.text("h1").contains("Conditions générales"));
    assert_accessible(&b, "the terms of use, read without a login");
    browser_login_steps(&b, &app, &clock, &a);
    assert!(
        b.current_url().ends_with("/conditions"),
        "{}",
        b.current_url()
    );
    assert_accessible(&b, "the terms of use to accept");
    b.submit_form("form[action='/conditions']");
    assert!(b.text("#accepte-error").contains("cochez la case"));
    assert_accessible(&b, "the terms of use with an error");
    b.click("#accepte");
    b.submit_form("form[action='/conditions']");
    b.find("#navigation");
    assert!(b.current_url().ends_with("/espace"), "{}", b.current_url());
    assert_eq!(journal_count(&app.store, "account.terms_accepted", ""), 1);
}

/// A manager adds an aidant, and the new aidant completes enrolment through the link;
/// every page of the manager's space passes axe.
#[test]
fn manager_adds_an_aidant_who_enrols() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Est", 22);
    let m = member(&app, &clock, "dominique@exemple.fr", AIDANT_AND_MANAGER, &s);
    let b = browser();
    browser_login(&b, &app, &clock, &m);
    b.goto(&app.url("/gestion"));
    assert_accessible(&b, "the manager's list");
    b.type_into("#name", "Sacha Nouveau");
    b.type_into("#email", "sacha@exemple.fr");
    b.submit_form("form[action='/gestion/aidants']");
    let link = b.text("#enrolment-link");
    assert!(link.contains("/activation/"), "{link}");
    assert_accessible(&b, "the enrolment link page");
    b.goto(&app.url("/gestion"));
    b.click(&format!("a[href='/gestion/comptes/{}']", m.user.id));
    b.find("form[action$='/carte']");
    assert_accessible(&b, "the account page");
    b.goto(&app.url(&format!("/gestion/comptes/{}/second-facteur", m.user.id)));
    b.find("form button[type='submit']");
    assert_accessible(&b, "a confirmation page");
    b.goto(&app.url("/gestion/journal"));
    b.find("table");
    assert_accessible(&b, "the structure's journal");

    // The new aidant, in another browser, opens the link.
    let n = browser();
    n.goto(&link);
    n.find("#totp-secret");
    assert_accessible(&n, "the enrolment page");
    let secret = procura::accounts::totp::from_base32(&n.text("#totp-secret")).expect("secret");
    n.type_into("#password", "une phrase de passe solide");
    n.type_into("#password_confirm", "une phrase de passe solide");
    n.type_into("#otp", &code(&secret, &clock, 0));
    n.submit_form("form.fr-form");
    n.find("form[action='/connexion']");
    assert!(n.source().contains("Votre compte est activé"));
    let fresh = Account {
        user: m.user.clone(),
        email: "sacha@exemple.fr".into(),
        password: "une phrase de passe solide".into(),
        secret,
    };
    browser_login(&n, &app, &clock, &fresh);
    assert!(n.text("h1").contains("Sacha Nouveau"));
}

/// The auditor's space: the journal with names, filtered, and while a verification runs.
#[test]
fn auditor_pages_pass_axe() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Ouest", 23);
    member(&app, &clock, "camille@exemple.fr", &[Role::Aidant], &s);
    let auditor = account(
        &app.store,
        &clock,
        "audit@exemple.fr",
        &[Role::Auditor],
        None,
    );
    let b = browser();
    browser_login(&b, &app, &clock, &auditor);
    b.goto(&app.url("/audit"));
    b.find("table");
    assert_accessible(&b, "the auditor's journal");
    b.submit_form("form[action='/audit/verifier']");
    b.find("h1");
    // While a verification runs the page says so, with a link to reload it (no automatic
    // refresh: WCAG 2.2.1); it is checked running, then once the verdict is shown.
    if b.source().contains("Vérification en cours") {
        assert_accessible(&b, "the auditor's journal while a verification runs");
    }
    // Right after the button the page may only say the verification was started, before
    // the background task records it: reload until the verdict is there.
    let started = std::time::Instant::now();
    while !b.source().contains("fr-badge--success") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the verification never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        b.goto(&app.url("/audit"));
    }
    assert!(
        b.source().contains("fr-badge--success"),
        "the verdict is shown: {}",
        b.text("main")
    );
    assert_accessible(&b, "the auditor's journal after Vérifier maintenant");
    b.goto(&app.url(&format!("/audit?structure={}&action=account.created", s.id)));
    b.find("table");
    assert_accessible(&b, "a filtered journal");
}

/// Percent-encodes everything but ASCII letters and digits (for a `data:` URL).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

/// The whole mandate creation in Chromium against the demo's FranceConnect simulator,
/// through the printable attestation; every page passes axe.
#[test]
fn mandate_creation_in_the_browser_through_the_attestation() {
    let (app, clock) = demo_app();
    let s = structure(&app.store, &clock, "France Services Ouest", 23);
    let a = member(&app, &clock, "claude@exemple.fr", &[Role::Aidant], &s);
    let b = browser();
    browser_login(&b, &app, &clock, &a);
    b.goto(&app.url("/mandats/nouveau"));
    assert_accessible(&b, "the mandate form");
    b.click("#demarche-social");
    b.click("#demarche-logement");
    b.click("#duration-SEMESTER");
    b.submit_form("form[action='/mandats/nouveau']");
    b.find("#identity-1");
    assert!(b.source().contains("Simulateur FranceConnect"));
    assert_accessible(&b, "the FranceConnect simulator");
    b.click("#identity-1");
    b.click("button[value='connexion']");
    b.find("#consent");
    assert!(b.source().contains("BELKACEM"));
    assert_accessible(&b, "the consent page");
    // The consent page with a translation beside the French, English then Arabic (right
    // to left); the consent is given on the Arabic page.
    let consent_url = b.current_url();
    b.goto(&format!("{consent_url}?langue=en"));
    b.find("#translation");
    assert_accessible(&b, "the consent page in English");
    b.goto(&format!("{consent_url}?langue=ar"));
    b.find("#translation");
    assert_eq!(
        b.execute(
            "return document.querySelector('#translation').getAttribute('dir');",
            &[]
        ),
        "rtl"
    );
    assert_accessible(&b, "the consent page in Arabic");
    b.click("#consent");
    b.submit_form("form[action^='/mandats/consentement/']");
    b.find("#attestation-digest");
    assert_accessible(&b, "the attestation");
    let text = b.text(".fr-mandate");
    assert!(
        text.contains("Logement") && text.contains("Social - Santé") && text.contains("Fait à"),
        "{text}"
    );
    // Printing: the print stylesheet hides the navigation and keeps the attestation.
    let hidden = b.execute(
        "return getComputedStyle(document.querySelector('.fr-header')).display;",
        &[],
    );
    assert_eq!(hidden, "block", "on screen the header shows");
    let pdf = b.print_pdf();
    assert!(pdf.starts_with("JVBERi"), "a PDF came out of printing");
    b.print_media();
    let verify = b.text("#verify-url");
    assert!(verify.starts_with(&app.url("/verifier?seq=")), "{verify}");
    // Printed: the document and its footer with the QR code; not the navigation, the
    // help, the receipt's details, the canonical text or the language chooser.
    for (css, display) in [
        (".fr-header", "none"),
        (".fr-mandate", "block"),
        (".fr-mandate__proof", "flex"),
        (".fr-mandate__proof .fr-qr svg", "inline"),
        ("#verify-url", "inline"),
        (".fr-mandate__tools", "none"),
        (".fr-langs", "none"),
        (".fr-receipt", "none"),
        (".fr-mandate__canonical", "none"),
    ] {
        let shown = b.execute(
            &format!("return getComputedStyle(document.querySelector('{css}')).display;"),
            &[],
        );
        assert_eq!(shown, display, "printed, {css}");
    }
    // The attestation in English and in Arabic, on screen.
    b.screen_media();
    let attestation = b.current_url();
    for (code, what) in [("en", "English"), ("ar", "Arabic")] {
        b.goto(&format!("{attestation}?langue={code}"));
        b.find("#translation");
        assert_eq!(
            b.execute(
                "return getComputedStyle(document.querySelector('#translation')).display;",
                &[]
            ),
            "block"
        );
        assert_accessible(&b, &format!("the attestation in {what}"));
    }
    b.goto(&app.url("/espace"));
    assert!(b.source().contains("BELKACEM"));
    assert_accessible(&b, "the home page with mandates");
    b.click("a[href^='/usagers/']");
    b.find("a[href$='/revoquer']");
    assert_accessible(&b, "the usager page");
    // The public check of the attestation, its answer and its form.
    b.goto(&verify);
    b.find("#verdict");
    assert!(b
        .text("#verdict")
        .contains(&format!("n° {}", b.text("#receipt-seq"))));
    assert_accessible(&b, "the verifier's answer");
    b.goto(&app.url("/verifier"));
    b.find("#empreinte");
    assert_accessible(&b, "the verifier's form");
    // On a phone, the Arabic attestation and consent translation fit the width.
    b.phone_viewport(390, 844);
    b.goto(&format!("{attestation}?langue=ar"));
    b.find("#translation");
    assert!(
        !b.overflows_horizontally(),
        "the Arabic attestation fits a phone"
    );
}

/// The login page with a refusal and the mandate form with an error pass axe, with the
/// fields in error pointing to their message.
#[test]
fn login_and_mandate_form_errors_pass_axe() {
    let (app, clock) = demo_app();
    let s = structure(&app.store, &clock, "France Services Est", 24);
    let a = member(&app, &clock, "dominique@exemple.fr", &[Role::Aidant], &s);
    let b = browser();
    b.goto(&app.url("/connexion"));
    b.type_into("#email", &a.email);
    b.type_into("#password", "not the password at all");
    b.submit_form("form[action='/connexion']");
    b.find("#login-error");
    b.find(r#"#password[aria-invalid="true"][aria-describedby="login-error"]"#);
    assert_accessible(&b, "the login page with an error");
    browser_login(&b, &app, &clock, &a);
    b.goto(&app.url("/mandats/nouveau"));
    b.click("#duration-SEMESTER");
    b.submit_form("form[action='/mandats/nouveau']");
    b.find("#demarches-error");
    b.find(r#"#demarche-social[aria-invalid="true"][aria-describedby="demarches-error"]"#);
    assert_accessible(&b, "the mandate form with an error");
}

/// On a 390 px wide phone no page of the manager's space scrolls sideways (wide tables
/// scroll inside their own focusable region), and the pages stay accessible.
#[test]
fn the_manager_space_fits_a_phone() {
    let (app, clock, s, m, a) = team(51);
    for i in 0..3 {
        seed_mandate(
            &app.store,
            &clock,
            &a,
            &s,
            &format!("sub-phone-{i}"),
            &["social", "famille", "travail"],
            procura::domain::mandate::MandateDuration::Month,
        );
    }
    let b = browser();
    b.phone_viewport(390, 844);
    browser_login(&b, &app, &clock, &m);
    assert_eq!(b.execute("return window.innerWidth;", &[]), json!(390));
    for path in [
        "/espace".to_string(),
        "/gestion".to_string(),
        format!("/gestion/comptes/{}", a.user.id),
        "/gestion/mandats".to_string(),
        "/gestion/demarches".to_string(),
        "/gestion/journal".to_string(),
    ] {
        b.goto(&app.url(&path));
        b.find("#contenu");
        assert!(
            !b.overflows_horizontally(),
            "{path} is wider than 390 px: scrollWidth {}",
            b.execute("return document.documentElement.scrollWidth;", &[])
        );
        assert_accessible(&b, &path);
    }
}

/// The names of the people the chooser shows (its radios not hidden).
fn shown_people(b: &Browser) -> Vec<String> {
    let v = b.execute(
        "return Array.from(document.querySelectorAll('[data-nom]')).filter(function (e) { return e.offsetParent !== null; }).map(function (e) { return e.getAttribute('data-nom'); });",
        &[],
    );
    v.as_array()
        .expect("a list")
        .iter()
        .map(|n| n.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Polls until the chooser shows `expected` (the filter waits a moment after typing).
fn wait_for_people(b: &Browser, expected: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut shown = shown_people(b);
        shown.sort();
        let mut wanted: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        wanted.sort();
        if shown == wanted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shown {shown:?}, expected {expected:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Choosing the person on a government site: typing filters the radios (accents and
/// case ignored), a live region says how many match, and the page passes axe.
#[test]
fn the_person_chooser_filters_as_you_type() {
    use crate::helpers::oidc::{authorize_path, new_req, register};
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Filtre", 62);
    let a = member(&app, &clock, "filtre@exemple.fr", &[Role::Aidant], &s);
    for (sub, given, family) in [
        ("filtre-1", "Hélène", "LÉGER"),
        ("filtre-2", "Karim", "BELKACEM"),
        ("filtre-3", "Marc", "Leger"),
        ("filtre-4", "Hélène", "DUPONT"),
    ] {
        seed_mandate_for(
            &app.store,
            &clock,
            &a,
            &s,
            &procura::domain::identity::Identity {
                given_name: given.into(),
                family_name: family.into(),
                ..identity(sub)
            },
            &["social"],
            procura::domain::mandate::MandateDuration::Month,
        );
    }
    let rp = register(
        &app.store,
        &clock,
        "client_secret_basic",
        "https://site.example.fr/callback",
    );
    let b = browser();
    browser_login(&b, &app, &clock, &a);
    b.goto(&app.url(&authorize_path(&rp, &new_req(), "openid", &[])));
    b.find("#filtre-usager");
    // The script showed the filter (hidden without script).
    assert_eq!(
        b.execute(
            "return document.querySelector('[data-filtre]').hidden;",
            &[]
        ),
        json!(false)
    );
    assert_eq!(shown_people(&b).len(), 4);
    b.type_into("#filtre-usager", "LEGER");
    wait_for_people(&b, &["Hélène LÉGER", "Marc Leger"]);
    assert_eq!(b.text("#filtre-statut"), "2 personnes correspondent.");
    assert_accessible(&b, "the person chooser, filtered");
    b.type_into("#filtre-usager", " helene");
    wait_for_people(&b, &["Hélène LÉGER"]);
    assert_eq!(b.text("#filtre-statut"), "1 personne correspond.");
    b.type_into("#filtre-usager", "z");
    wait_for_people(&b, &[]);
    assert!(b
        .text("#filtre-statut")
        .starts_with("Aucune personne ne correspond"));
}

/// Checks the current page on a phone: no horizontal scrolling, a screenshot as wide as
/// the screen (kept under the build's temporary folder), and no serious axe violation.
fn fits_the_phone(b: &Browser, step: &str) {
    b.find("#contenu");
    assert!(
        !b.overflows_horizontally(),
        "{step}: wider than 390 px (scrollWidth {})",
        b.execute("return document.documentElement.scrollWidth;", &[])
    );
    let name: String = step
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    assert_eq!(b.screenshot(&format!("full-day-{name}")).0, 390, "{step}");
    assert_accessible(b, step);
}

/// An aidant's day on a phone: find a person whose mandate expired, renew it, have the
/// person cancel at FranceConnect and come back to the form with the choices kept, then
/// go through again, consent, and print the attestation.
#[test]
fn an_aidants_full_day_on_a_phone() {
    use procura::domain::mandate::MandateDuration;
    let (app, clock) = demo_app();
    let s = structure(&app.store, &clock, "France Services Journée", 24);
    let a = member(&app, &clock, "journee@exemple.fr", &[Role::Aidant], &s);
    // Karim's one-day mandate, with two démarches, ended yesterday; others are active.
    seed_mandate_for(
        &app.store,
        &clock,
        &a,
        &s,
        &crate::helpers::person::sim_identity(1),
        &["social", "logement"],
        MandateDuration::Short,
    );
    for i in 0..3 {
        seed_mandate(
            &app.store,
            &clock,
            &a,
            &s,
            &format!("sub-journee-{i}"),
            &["famille"],
            MandateDuration::Month,
        );
    }
    clock.advance(chrono::Duration::days(2));
    let b = browser();
    b.phone_viewport(390, 844);
    browser_login(&b, &app, &clock, &a);
    b.goto(&app.url("/espace"));
    fits_the_phone(&b, "home");
    // The expired tab, searched by name.
    b.goto(&app.url("/espace?onglet=expires&q=belkacem"));
    b.find("a[href^='/mandats/nouveau?renouveler=']");
    assert!(b.text("#contenu").contains("BELKACEM"));
    fits_the_phone(&b, "expired mandates");
    b.click("a[href^='/mandats/nouveau?renouveler=']");
    b.find("#demarche-social");
    fits_the_phone(&b, "renewal form");
    let ticked = |id: &str| {
        b.execute(
            &format!("return document.querySelector('#{id}').checked;"),
            &[],
        ) == json!(true)
    };
    assert!(ticked("demarche-social") && ticked("demarche-logement"));
    b.click("#duration-SEMESTER");
    b.submit_form("form[action='/mandats/nouveau']");
    // The person cancels at FranceConnect: back to the form, choices kept, said plainly.
    b.find("#identity-1");
    b.click("button[value='annuler']");
    b.find("#form-notice");
    assert!(
        b.text("#form-notice")
            .contains("annulé la connexion à FranceConnect"),
        "{}",
        b.text("#form-notice")
    );
    assert!(ticked("demarche-social") && ticked("demarche-logement"));
    assert!(ticked("duration-SEMESTER"), "the duration is kept too");
    fits_the_phone(&b, "form after a cancel");
    // Again, and this time the person logs in and consents before the deadline shown.
    b.submit_form("form[action='/mandats/nouveau']");
    b.find("#identity-1");
    fits_the_phone(&b, "FranceConnect simulator");
    b.click("#identity-1");
    b.click("button[value='connexion']");
    b.find("#consent");
    assert!(b.text("#consent-deadline").contains("avant"));
    fits_the_phone(&b, "consent page");
    b.click("#consent");
    b.submit_form("form[action^='/mandats/consentement/']");
    b.find("#attestation-digest");
    assert!(b.source().contains("Mandat créé"));
    fits_the_phone(&b, "attestation");
    // Printing gives the document only; the PDF is offered beside it.
    assert!(b.source().contains("attestation.pdf"));
    assert!(b.print_pdf().starts_with("JVBERi"));
    b.print_media();
    let shown = |css: &str| {
        b.execute(
            &format!("return getComputedStyle(document.querySelector('{css}')).display;"),
            &[],
        )
    };
    assert_eq!(shown(".fr-header"), json!("none"));
    assert_eq!(shown(".fr-mandate"), json!("block"));
    b.screen_media();
    // The person's page now shows the new mandate active and the old one expired.
    b.goto(&app.url("/espace?q=belkacem"));
    b.click("a[href^='/usagers/']");
    b.find("h1");
    let page = b.text("#contenu");
    assert!(page.contains("Validité"), "{page}");
    fits_the_phone(&b, "the person's page");
}

/// The habilitation request's pages, errors included, and the administrators' review pass
/// axe; the fields in error point to their message.
#[test]
fn habilitation_pages_pass_axe() {
    let (app, clock) = app_with_clock(&[]);
    let b = browser();
    b.goto(&app.url("/habilitation"));
    assert_accessible(&b, "the habilitation form");
    b.type_into("#email", "pas-une-adresse");
    b.submit_form("form[action='/habilitation']");
    b.find(r#"#email[aria-invalid="true"][aria-describedby="email-error"]"#);
    assert_accessible(&b, "the habilitation form with an error");
    let (_, link) = submitted(&app, "demandeur@exemple.fr", &fresh_siret(30));
    let (_, draft) = started(&app, "brouillon@exemple.fr");
    b.goto(&app.url(&format!("{draft}/structure")));
    assert_accessible(&b, "the structure step");
    b.type_into("#siret", "12345678901234");
    b.submit_form("form[action$='/structure']");
    b.find(r#"#siret[aria-invalid="true"][aria-describedby="siret-error"]"#);
    assert_accessible(&b, "the structure step with errors");
    for (path, what) in [
        (format!("{draft}/responsable"), "the manager step"),
        (format!("{draft}/aidants"), "the aidants step"),
        (format!("{draft}/envoi"), "the summary with what is missing"),
        (link.clone(), "a sent request"),
    ] {
        b.goto(&app.url(&path));
        b.find("h1");
        assert_accessible(&b, what);
    }
    let admin = account(&app.store, &clock, "admin@exemple.fr", &[Role::Admin], None);
    browser_login(&b, &app, &clock, &admin);
    b.goto(&app.url("/admin/habilitations"));
    b.find("table");
    assert_accessible(&b, "the requests");
    let id = request_id(&link);
    b.goto(&app.url(&format!("/admin/habilitations/{id}")));
    b.submit_form("form[action$='/refuser']");
    b.find(r#"#body-refuser[aria-invalid="true"]"#);
    assert_accessible(&b, "a request with an error");
    b.type_into("#body-modifications", "Précisez l’adresse.");
    b.submit_form("form[action$='/modifications']");
    b.find("input[name='confirm']");
    assert_accessible(&b, "a decision to confirm");
}

/// Every administration page passes axe, and so does a refused form with its error
/// beside the field.
#[test]
fn admin_pages_pass_axe() {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "France Services Admin", 24);
    let admin = account(
        &app.store,
        &clock,
        "admin.axe@exemple.fr",
        &[Role::Admin],
        None,
    );
    let b = browser();
    browser_login(&b, &app, &clock, &admin);
    for path in [
        "/admin".to_string(),
        "/admin/structures".to_string(),
        "/admin/structures/nouvelle".to_string(),
        format!("/admin/structures/{}", s.id),
        format!("/admin/structures/{}/desactiver", s.id),
        "/admin/comptes".to_string(),
        "/admin/comptes/nouveau".to_string(),
        format!("/admin/comptes/{}", admin.user.id),
        "/admin/clients".to_string(),
        "/admin/clients/nouveau".to_string(),
        "/admin/cartes".to_string(),
        "/admin/cles".to_string(),
        "/admin/parametres".to_string(),
    ] {
        b.goto(&app.url(&path));
        b.find("h1");
        assert_accessible(&b, &path);
    }
    b.goto(&app.url("/admin/structures/nouvelle"));
    b.type_into("#name", "Structure refusée");
    b.type_into("#siret", "12345678901234");
    b.submit_form("form[action='/admin/structures']");
    let error = b.text("#siret-error");
    assert!(error.contains("SIRET"), "{error}");
    assert_accessible(&b, "the structure form with an error");
}
