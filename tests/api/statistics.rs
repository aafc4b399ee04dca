//! `/statistiques` (public, aggregate counts only) and its CSV for administrators.

use procura::domain::roles::Role;

use crate::helpers::oidc::*;
use crate::helpers::*;

fn figure(body: &str, id: &str) -> i64 {
    between(body, &format!("id=\"{id}\">"), "<")
        .parse()
        .unwrap_or_else(|_| panic!("{id} in {body}"))
}

#[test]
fn the_public_figures_count_structures_aidants_mandates_people_and_uses_by_demarche() {
    let w = world(&[]);
    let anonymous = Web::new(&w.app);
    let before = anonymous.get("/statistiques");
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(figure(&before.body, "stat-structures"), 1);
    assert_eq!(figure(&before.body, "stat-aidants"), 1);
    assert_eq!(figure(&before.body, "stat-mandats"), 1);
    assert_eq!(figure(&before.body, "stat-personnes"), 1);
    assert_eq!(figure(&before.body, "stat-total"), 0);
    // Two real uses through the OpenID provider: one for each démarche of the mandate.
    let r = new_req();
    code_for(&w, &w.rp, &r, "openid", "social");
    let r = new_req();
    code_for(&w, &w.rp, &r, "openid", "logement");
    // A pending account (no second factor) is not an accredited aidant.
    let s = structure_row(&w.app.store, &w.structure_id);
    let _pending = add_aidant(
        &w.logged_in_member("resp@exemple.fr", &[Role::Manager]),
        "nouveau@exemple.fr",
        "Nouvel Aidant",
    );
    // The public page reuses its figures for ten minutes.
    w.clock.advance(chrono::Duration::minutes(11));
    let after = anonymous.get("/statistiques");
    assert_eq!(figure(&after.body, "stat-total"), 2, "{}", after.body);
    assert_eq!(figure(&after.body, "stat-aidants"), 1, "{}", after.body);
    assert!(after.body.contains("Social"), "démarche labels");
    // No name, no structure, no id on the public page.
    for private in [
        s.name.as_str(),
        "DUBOIS",
        "Angela",
        w.usager_id.as_str(),
        "aidant.op@exemple.fr",
    ] {
        assert!(
            !after.body.contains(private),
            "{private} on the public page"
        );
    }
    assert!(
        !after.body.contains("statistiques.csv"),
        "no CSV link for visitors"
    );
    // The CSV is for administrators only.
    assert_eq!(anonymous.get("/admin/statistiques.csv").status, 303);
    assert_eq!(w.web.get("/admin/statistiques.csv").status, 403);
    let admin = account(
        &w.app.store,
        &w.clock,
        "admin.stats@exemple.fr",
        &[Role::Admin],
        None,
    );
    let admin_web = logged_in(&w.app, &w.clock, &admin);
    assert!(admin_web
        .get("/statistiques")
        .body
        .contains("/admin/statistiques.csv"));
    let csv = admin_web.get("/admin/statistiques.csv");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.body
            .starts_with("indicateur,valeur\r\nstructures_actives,1\r\n"),
        "{}",
        csv.body
    );
    let social: i64 = csv
        .body
        .lines()
        .filter(|l| l.contains(",social,"))
        .map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(social, 1, "{}", csv.body);
}
