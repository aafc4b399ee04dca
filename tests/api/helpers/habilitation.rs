//! Habilitation requests as tests drive them: the public form and its link (read from the
//! outbox), the steps, a submitted request, an administrator, the request's stored state.

use procura::domain::roles::Role;

use super::app::TestApp;
use super::fixtures::{account, logged_in, Account};
use super::http::{Resp, Web};
use super::mail::{mails_of_kind, url_in};
use procura::clock::FixedClock;

/// A valid SIRET (Luhn) derived from `n`, used by no fixture structure.
pub fn fresh_siret(n: u32) -> String {
    let base = format!("{:013}", 7_000_000_000_000u64 + u64::from(n));
    (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|s| procura::domain::valid_siret(s))
        .expect("a check digit exists")
}

/// An administrator of `app` (no structure), logged in.
pub fn admin(app: &TestApp, clock: &FixedClock, email: &str) -> (Account, Web) {
    let a = account(&app.store, clock, email, &[Role::Admin], None);
    let web = logged_in(app, clock, &a);
    (a, web)
}

/// Posts the first form with `email`; the answer.
pub fn ask_link(web: &Web, email: &str) -> Resp {
    web.submit("/habilitation", "/habilitation", &[("email", email)])
}

/// The path of the newest link mailed to `email`.
pub fn link_for(app: &TestApp, email: &str) -> String {
    let mail = mails_of_kind(&app.store, "habilitation.link")
        .into_iter()
        .rev()
        .find(|m| m.recipient == email)
        .unwrap_or_else(|| panic!("no link mailed to {email}"));
    let url = url_in(&mail.body_text, "/habilitation/").expect("a link in the mail");
    app.local(&url)
}

/// Starts a request for `email` in a new browser; the browser and the link's path (the
/// link opened once: the address is confirmed).
pub fn started(app: &TestApp, email: &str) -> (Web, String) {
    let web = Web::new(app);
    let r = ask_link(&web, email);
    assert_eq!(r.status, 200, "{}", r.body);
    let link = link_for(app, email);
    assert_eq!(web.get(&link).status, 200);
    (web, link)
}

/// Posts `fields` to `path` of a request's link with the session's CSRF token (read from
/// the first form, which every visitor can open whatever the request's state).
pub fn post_step(web: &Web, path: &str, fields: &[(&str, &str)]) -> Resp {
    web.submit("/habilitation", path, fields)
}

/// Posts the structure step.
pub fn save_structure(web: &Web, link: &str, siret: &str, name: &str) -> Resp {
    let page = format!("{link}/structure");
    post_step(
        web,
        &page,
        &[
            ("siret", siret),
            ("name", name),
            ("address", "1 place de la Mairie, 75001 Paris"),
            ("kind", "france_services"),
        ],
    )
}

/// Posts the manager step.
pub fn save_manager(web: &Web, link: &str, name: &str, email: &str, aidant_too: bool) -> Resp {
    let page = format!("{link}/responsable");
    let mut fields = vec![("manager_name", name), ("manager_email", email)];
    if aidant_too {
        fields.push(("manager_aidant", "oui"));
    }
    post_step(web, &page, &fields)
}

/// Adds an aidant.
pub fn add_request_aidant(web: &Web, link: &str, name: &str, email: &str, role: &str) -> Resp {
    let page = format!("{link}/aidants");
    post_step(
        web,
        &page,
        &[("name", name), ("email", email), ("role", role)],
    )
}

/// Sends the request from its summary page.
pub fn send_request(web: &Web, link: &str) -> Resp {
    post_step(web, &format!("{link}/envoi"), &[])
}

/// A request filled in and sent by `applicant`: structure "Maison France Services" with
/// SIRET `siret`, manager `manager@exemple.fr` (also aidant), aidant `aidant@exemple.fr`.
pub fn submitted(app: &TestApp, applicant: &str, siret: &str) -> (Web, String) {
    let (web, link) = started(app, applicant);
    assert_eq!(
        save_structure(&web, &link, siret, "Maison France Services").status,
        303
    );
    assert_eq!(
        save_manager(&web, &link, "Rose Responsable", "manager@exemple.fr", true).status,
        303
    );
    assert_eq!(
        add_request_aidant(&web, &link, "Alain Aidant", "aidant@exemple.fr", "aidant").status,
        303
    );
    let r = send_request(&web, &link);
    assert_eq!(r.status, 303, "{}", r.body);
    (web, link)
}

/// The request id in a link's path.
pub fn request_id(link: &str) -> String {
    link.trim_start_matches("/habilitation/")
        .split('/')
        .next()
        .expect("id")
        .to_string()
}

/// An administrator's decision (`accepter`, `refuser`, `modifications`, `message`) with
/// `body`, confirmed when `confirm`.
pub fn decide(web: &Web, id: &str, action: &str, body: &str, confirm: bool) -> Resp {
    let page = format!("/admin/habilitations/{id}");
    let mut fields = vec![("body", body)];
    if confirm {
        fields.push(("confirm", "oui"));
    }
    web.submit(&page, &format!("{page}/{action}"), &fields)
}

/// One column of the request `id` as stored (text, or "" when NULL).
pub fn request_field(app: &TestApp, id: &str, column: &str) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        v: Option<String>,
    }
    let mut conn = app.store.conn().expect("conn");
    diesel::sql_query(format!(
        "SELECT {column} AS v FROM habilitation_requests WHERE id = '{id}'"
    ))
    .get_result::<V>(&mut *conn)
    .expect("request")
    .v
    .unwrap_or_default()
}
