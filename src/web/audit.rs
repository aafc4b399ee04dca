//! The journal as people read it: the auditor's space (`/audit`: every structure, names
//! of what entries link to, the chain's status, "Vérifier maintenant") and the manager's
//! view of their structure (`/gestion/journal`). Filters are query parameters
//! (docs/journal.md, "Browsing").

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};

use super::auth::CsrfOnly;
use super::session::{see_other, with_flash, Auditor, Manager};
use super::{render, App, Layout, Run, WebError};
use crate::journal::browse::Filter;
use crate::journal::Entry;
use crate::oversight::{self, JournalView, Names, Progress};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit))
        .route("/audit/verifier", web::post().to(verify_now))
        .route("/gestion/journal", web::get().to(manager_journal));
}

/// A UTC time as Europe/Paris local time, in French ([`crate::domain::french::paris`]).
pub fn paris_time(at: &NaiveDateTime) -> String {
    crate::domain::french::paris(*at)
        .format("%d/%m/%Y à %H:%M:%S")
        .to_string()
}

/// French labels of the commonest actions (the code is shown beside).
fn action_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "service.started" => "Démarrage du service",
        "service.stopped" => "Arrêt du service",
        "structure.created" => "Structure créée",
        "structure.updated" => "Démarches de la structure modifiées",
        "account.created" => "Compte créé",
        "enrolment.issued" => "Lien d’activation émis",
        "account.enrolled" => "Compte activé",
        "account.deactivated" => "Compte désactivé",
        "account.reactivated" => "Compte réactivé",
        "account.second_factor_reset" => "Second facteur réinitialisé",
        "account.structure_switched" => "Changement de structure",
        "login.succeeded" => "Connexion réussie",
        "login.failed" => "Connexion refusée",
        "login.rate_limited" => "Trop de tentatives de connexion",
        "account.locked" => "Compte bloqué",
        "account.unlocked" => "Compte débloqué",
        "logout" => "Déconnexion",
        "mandate.consent_started" => "Consentement demandé",
        "mandate.consent_failed" => "Consentement interrompu",
        "usager.created" => "Usager créé",
        "mandate.created" => "Mandat créé",
        "authorisation.superseded" => "Autorisation remplacée",
        "authorisation.revoked" => "Autorisation révoquée",
        "mandate.revoked" => "Mandat révoqué",
        "mandate.used" => "Mandat utilisé",
        "mandate.remote_consent_requested" => "Consentement à distance demandé",
        "mandate.remote_consent_opened" => "Lien de consentement utilisé",
        "mandate.remote_consent_identified" => "Identité confirmée à distance",
        "mandate.remote_consent_identity_mismatch" => "Identité différente (à distance)",
        "mandate.remote_consent_given" => "Consentement à distance donné",
        "mandate.remote_consent_refused" => "Consentement à distance refusé",
        "mandate.remote_consent_expired" => "Demande à distance expirée",
        "usager.logged_in" => "Connexion à l’espace personnel",
        "usager.login_failed" => "Connexion à l’espace personnel refusée",
        "usager.logged_out" => "Déconnexion de l’espace personnel",
        "usager.data_exported" => "Données personnelles exportées",
        "token.issued" => "Jeton délivré",
        "token.code_replayed" => "Code rejoué",
        "client.created" => "Client OpenID créé",
        "client.updated" => "Client OpenID modifié",
        "keys.generated" | "keys.rotated" => "Clé de signature",
        "journal.key_created" | "journal.key_rotated" => "Clé des points de contrôle",
        "journal.verified" => "Journal vérifié",
        "maintenance.purged" => "Nettoyage",
        _ => return None,
    })
}

/// A linked object of an entry.
struct LinkView {
    /// What it is, in French.
    kind: &'static str,
    id: String,
    /// Its name from live tables (auditors only).
    name: Option<String>,
    /// The same page filtered by it, when that is a filter.
    href: Option<String>,
}

struct RowView {
    seq: i64,
    time: String,
    iso: String,
    action: String,
    action_label: Option<&'static str>,
    action_href: String,
    actor: String,
    actor_name: Option<String>,
    actor_href: String,
    links: Vec<LinkView>,
    details: String,
}

fn row(base: &str, f: &Filter, names: &Names, e: &Entry) -> RowView {
    let href = |k: &str, v: &str| format!("{base}?{}", f.query_with(&[(k, v.to_string())]));
    let mut links = vec![];
    let mut push = |kind, id: &Option<String>, key: Option<&str>, names: Option<&_>| {
        if let Some(id) = id {
            let n: Option<&std::collections::HashMap<String, String>> = names;
            links.push(LinkView {
                kind,
                id: id.clone(),
                name: n.and_then(|m| m.get(id).cloned()),
                href: key.map(|k| href(k, id)),
            });
        }
    };
    push(
        "Structure",
        &e.structure_id,
        Some("structure"),
        Some(&names.structures),
    );
    push("Usager", &e.usager_id, Some("usager"), Some(&names.usagers));
    push("Mandat", &e.mandate_id, Some("mandate"), None);
    push("Autorisation", &e.authorisation_id, None, None);
    push("Client", &e.client_id, None, Some(&names.clients));
    let actor = e.actor.clone().unwrap_or_default();
    RowView {
        seq: e.seq,
        time: paris_time(&e.at),
        iso: crate::journal::format_time(&e.at),
        action_label: action_label(&e.action),
        action_href: href("action", &e.action),
        action: e.action.clone(),
        actor_name: actor
            .strip_prefix("user:")
            .and_then(|id| names.accounts.get(id).cloned()),
        actor_href: href("actor", &actor),
        actor,
        links,
        details: e.details.clone(),
    }
}

#[derive(Template)]
#[template(path = "journal_view.html")]
struct JournalPage {
    layout: Layout,
    auditor: bool,
    base: &'static str,
    title: String,
    flash: Option<String>,
    filter: Filter,
    from: String,
    to: String,
    rows: Vec<RowView>,
    older: Option<String>,
    newest: Option<String>,
    export: String,
    // The chain's status (auditors).
    head_seq: i64,
    head_hash: String,
    last_verification: Option<(String, String, bool, String)>,
    checkpoint: Option<(i64, String)>,
    running: Option<(u64, String)>,
    failure: Option<String>,
}

fn parse(req: &HttpRequest) -> Result<Filter, WebError> {
    Filter::parse(req.query_string()).map_err(WebError::BadRequest)
}

fn page(
    layout: Layout,
    base: &'static str,
    title: String,
    f: Filter,
    view: JournalView,
) -> JournalPage {
    let rows: Vec<RowView> = view
        .page
        .entries
        .iter()
        .map(|e| row(base, &f, &view.names, e))
        .collect();
    let older = view
        .page
        .older
        .map(|s| format!("{base}?{}", f.query_with(&[("after", s.to_string())])));
    let newest = f.after.map(|_| format!("{base}?{}", f.query_with(&[])));
    let day = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let (head_seq, head_hash, last_verification, checkpoint) = match view.status {
        Some(s) => (
            s.head.0,
            s.head.1,
            s.last_verification.map(|v| {
                let result = match (&v.problem, v.intact) {
                    (_, true) => format!("intact ({} entrées vérifiées)", v.entries),
                    (Some((kind, seq)), false) => {
                        format!("NON INTÈGRE : problème « {kind} » à l’entrée {seq}")
                    }
                    (None, false) => "NON INTÈGRE".to_string(),
                };
                (
                    paris_time(&v.entry.at),
                    v.entry.actor.clone().unwrap_or_default(),
                    v.intact,
                    result,
                )
            }),
            s.checkpoint.map(|(size, at)| (size, paris_time(&at))),
        ),
        None => (0, String::new(), None, None),
    };
    JournalPage {
        layout,
        auditor: base == "/audit",
        base,
        title,
        flash: None,
        from: day(f.from).unwrap_or_default(),
        to: day(f.to).unwrap_or_default(),
        export: format!("{base}/export?{}", f.query_with(&[])),
        filter: f,
        rows,
        older,
        newest,
        head_seq,
        head_hash,
        last_verification,
        checkpoint,
        running: None,
        failure: None,
    }
}

async fn audit(a: Auditor, app: App, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let f = parse(&req)?;
    let q = f.clone();
    let view = app.run(move |db, _| oversight::audit_page(db, &q)).await?;
    let mut p = page(a.layout(&app), "/audit", "Journal d’audit".into(), f, view);
    p.flash = a.flash();
    if let Progress::Running(_, started, checked) = app.verifications.progress() {
        p.running = Some((checked, paris_time(&started.naive_utc())));
    }
    p.failure = app.verifications.failure();
    Ok(a.finish(&app, render(&p)))
}

async fn verify_now(
    a: Auditor,
    app: App,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    a.check_csrf(&form.csrf_token)?;
    let started = oversight::start_verification(
        app.verifications.clone(),
        app.store.clone(),
        app.clock.clone(),
        a.user().actor(),
    )?;
    let message = if started {
        "Vérification lancée : son résultat sera inscrit au journal."
    } else {
        "Une vérification est déjà en cours : voici son avancement."
    };
    Ok(with_flash(&app, &a, see_other("/audit"), message))
}

async fn manager_journal(m: Manager, app: App, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let f = parse(&req)?;
    let (by, q) = (m.acting().clone(), f.clone());
    let view = app
        .run(move |db, _| oversight::structure_page(db, &by, &q))
        .await?;
    let title = format!("Journal de la structure {}", m.structure().name);
    let p = page(m.layout(&app), "/gestion/journal", title, f, view);
    Ok(m.finish(&app, render(&p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn paris_time_follows_summer_time() {
        assert_eq!(
            paris_time(&t("2026-01-15 12:00:00")),
            "15/01/2026 à 13:00:00"
        );
        assert_eq!(
            paris_time(&t("2026-07-15 12:00:00")),
            "15/07/2026 à 14:00:00"
        );
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(
            paris_time(&t("2026-03-29 00:59:59")),
            "29/03/2026 à 01:59:59"
        );
        assert_eq!(
            paris_time(&t("2026-03-29 01:00:00")),
            "29/03/2026 à 03:00:00"
        );
        assert_eq!(
            paris_time(&t("2026-10-25 00:59:59")),
            "25/10/2026 à 02:59:59"
        );
        assert_eq!(
            paris_time(&t("2026-10-25 01:00:00")),
            "25/10/2026 à 02:00:00"
        );
        assert_eq!(
            paris_time(&t("2026-12-31 23:30:00")),
            "01/01/2027 à 00:30:00"
        );
    }
}
