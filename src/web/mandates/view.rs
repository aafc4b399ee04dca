//! A mandate's pages: revocation, the usager's page (the attestation is in `attestation`).

use super::*;

pub(super) async fn view_in_structure(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    mandate_id: String,
) -> Result<(MandateView, String), WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let sid = structure.id.clone();
    state
        .run(move |conn, env| {
            let view =
                mandates::mandate_in(conn, env.now, &sid, &mandate_id)?.ok_or(Error::NotFound)?;
            let text = mandates::attestation(conn, &view)?;
            Ok((view, text))
        })
        .await
}

#[derive(Template)]
#[template(path = "revocation.html")]
struct RevocationPage {
    layout: Layout,
    m: MandateBlock,
    person: String,
    usager_id: String,
    structure: String,
}

pub(super) async fn revocation(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (view, _) = view_in_structure(&ctx, &state, path.into_inner()).await?;
    Ok(render(&RevocationPage {
        layout: ctx.layout(&state),
        m: block(&view),
        person: view.usager.display_name(),
        usager_id: view.usager.id.clone(),
        structure: ctx
            .structure
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
    }))
}

/// The confirmation step of a revocation (a whole mandate, or one authorisation),
/// posting back to the same address.
pub(super) async fn confirm_revocation(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let (view, title, message, button) = if req.path().starts_with("/autorisations/") {
        let (view, label) = authorisation_view(&ctx, &state, id).await?;
        let title = format!(
            "Révoquer la démarche « {label} » pour {} ?",
            view.usager.display_name()
        );
        (view, title, "Les aidants ne pourront plus agir pour cette démarche au nom de la personne. Les autres démarches du mandat restent actives.", "Révoquer cette démarche")
    } else {
        let (view, _) = view_in_structure(&ctx, &state, id).await?;
        let title = format!(
            "Révoquer tout le mandat de {} ?",
            view.usager.display_name()
        );
        (view, title, "Toutes les démarches encore actives de ce mandat cesseront immédiatement d’être autorisées. Cette action est définitive et enregistrée au journal ; une attestation de révocation sera affichée.", "Révoquer le mandat")
    };
    Ok(render(&ConfirmPage {
        layout: ctx.layout(&state),
        title,
        message: message.into(),
        button: button.into(),
        action: req.path().to_string(),
        back: format!("/usagers/{}", view.usager.id),
    }))
}

/// A revocation in the domain: (conn, now, actor, structure, id) → the mandate after it.
type Revocation = fn(
    &mut crate::store::DbConn,
    chrono::DateTime<chrono::Utc>,
    &str,
    &str,
    &str,
) -> Result<MandateView, Error>;

/// A confirmed revocation (a whole mandate, or one authorisation): checks the form, runs
/// the use case within the current structure, and shows the revocation attestation.
pub(super) async fn revoke(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let revocation: Revocation = if req.path().starts_with("/autorisations/") {
        mandates::revoke_authorisation
    } else {
        mandates::revoke_mandate
    };
    ctx.check_csrf(&form.csrf_token)?;
    let (user, structure) = ctx.require_any(&ACTORS)?;
    let (actor, sid) = (user.actor(), structure.id.clone());
    let view = state
        .run(move |db, env| revocation(db, env.now, &actor, &sid, &id))
        .await?;
    Ok(see_other(&format!(
        "/mandats/{}/revocation",
        view.mandate.id
    )))
}

/// Finds the mandate of an authorisation within the structure, and the démarche's label.
pub(super) async fn authorisation_view(
    ctx: &Ctx,
    state: &web::Data<AppState>,
    auth_id: String,
) -> Result<(MandateView, String), WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let sid = structure.id.clone();
    state
        .run(move |conn, env| {
            let v = mandates::mandate_of_authorisation(conn, env.now, &sid, &auth_id)?
                .ok_or(Error::NotFound)?;
            let label = v
                .authorisations
                .iter()
                .find(|(a, _)| a.id == auth_id)
                .and_then(|(a, _)| rules::demarche(&a.demarche))
                .map(|d| d.label.to_string())
                .unwrap_or_default();
            Ok((v, label))
        })
        .await
}

/// A mandate on the person's page: a title no other mandate has, its badge, what
/// replaced it, what is left of it, and what may be done with it.
pub struct PersonMandate {
    b: MandateBlock,
    /// "Mandat du 3 mars 2026 au 3 mars 2027".
    title: String,
    /// The badge: "actif", "expiré", "révoqué", "remplacé".
    badge: &'static str,
    /// The badge's DSFR modifier class (may be empty).
    badge_class: &'static str,
    /// The mandate that replaced it (its id and title), on the same page.
    replaced_by: Option<(String, String)>,
    /// "encore 23 jours (jusqu’au 3 mars 2027 à 14 h 05)", for an active mandate.
    remaining: String,
    /// Whether one of its démarches was revoked: its revocation attestation can be shown.
    has_revocation: bool,
}

/// What is left of an active mandate ending at `end`, at `now` (both UTC), in Paris days:
/// "se termine aujourd’hui à 14 h 05", "se termine demain à 9 h 00", "encore 23 jours".
pub fn remaining(now: NaiveDateTime, end: NaiveDateTime) -> String {
    let (n, e) = (
        crate::domain::french::paris(now),
        crate::domain::french::paris(end),
    );
    let hour = e.format("%-H h %M").to_string();
    match (e.date() - n.date()).num_days() {
        d if d <= 0 => format!("se termine aujourd’hui à {hour}"),
        1 => format!("se termine demain à {hour}"),
        d => format!("encore {d} jours (jusqu’au {})", day_time(&end)),
    }
}

/// The person's mandates as their page shows them (views newest first, within one
/// structure). A mandate whose démarches were all ended by newer mandates (a renewal)
/// is "remplacé", linked to the one that replaced it.
pub fn person_mandates(views: &[MandateView], now: NaiveDateTime) -> Vec<PersonMandate> {
    use std::collections::HashMap;
    let base = |v: &MandateView| {
        format!(
            "Mandat du {} au {}",
            day(&v.mandate.created_at),
            day(&v.mandate.expires_at)
        )
    };
    // Titles: by dates, then with the time of creation, then numbered, until unique.
    let mut titles: Vec<String> = views.iter().map(base).collect();
    let count = |t: &[String]| {
        let mut c: HashMap<String, usize> = HashMap::new();
        for x in t {
            *c.entry(x.clone()).or_default() += 1;
        }
        c
    };
    let c = count(&titles);
    for (t, v) in titles.iter_mut().zip(views) {
        if c[t.as_str()] > 1 {
            *t = format!("{t} (créé le {})", day_time(&v.mandate.created_at));
        }
    }
    let c = count(&titles);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in titles.iter_mut().rev() {
        if c[t.as_str()] > 1 {
            let n = seen.entry(t.clone()).or_default();
            *n += 1;
            *t = format!("{t}, n° {n}");
        }
    }
    views
        .iter()
        .zip(&titles)
        .map(|(v, title)| {
            let states: Vec<AuthorisationState> =
                v.authorisations.iter().map(|(_, s)| *s).collect();
            let state = v.state();
            let replaced = matches!(
                state,
                AuthorisationState::Superseded | AuthorisationState::Revoked
            ) && states.contains(&AuthorisationState::Superseded);
            // The newer mandate created when an authorisation was superseded.
            let replaced_by = v
                .authorisations
                .iter()
                .filter(|(_, s)| *s == AuthorisationState::Superseded)
                .find_map(|(a, _)| {
                    views.iter().zip(&titles).find(|(o, _)| {
                        o.mandate.id != v.mandate.id
                            && Some(o.mandate.created_at) == a.revoked_at
                            && o.authorisations
                                .iter()
                                .any(|(b, _)| b.demarche == a.demarche)
                    })
                })
                .map(|(o, t)| (o.mandate.id.clone(), t.clone()));
            let (badge, badge_class) = match state {
                AuthorisationState::Active => ("actif", " fr-badge--success"),
                AuthorisationState::Expired => ("expiré", " fr-badge--warning"),
                _ if replaced => ("remplacé", " fr-badge--info"),
                _ => ("révoqué", " fr-badge--error"),
            };
            PersonMandate {
                b: block(v),
                title: title.clone(),
                badge,
                badge_class,
                replaced_by,
                remaining: if state == AuthorisationState::Active {
                    remaining(now, v.mandate.expires_at)
                } else {
                    String::new()
                },
                has_revocation: states.contains(&AuthorisationState::Revoked),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "usager.html")]
struct UsagerPage {
    layout: Layout,
    u: crate::mandates::Usager,
    name: String,
    born_at: String,
    mandates: Vec<PersonMandate>,
    can_create: bool,
    can_erase: bool,
    flash: Option<String>,
}

pub(super) async fn usager(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (user, structure) = ctx.require_any(&ACTORS)?;
    let can_create = user.has(Role::Aidant);
    let can_erase = user.has(Role::Manager);
    let (sid, id) = (structure.id.clone(), path.into_inner());
    let (u, views) = state
        .run(move |conn, env| mandates::usager_in(conn, env.now, &sid, &id)?.ok_or(Error::NotFound))
        .await?;
    let now = state.clock.now().naive_utc();
    let page = render(&UsagerPage {
        flash: ctx.flash(),
        layout: ctx.layout(&state),
        name: u.display_name(),
        born_at: crate::domain::places::birthplace(&u.birthplace, &u.birthcountry),
        u,
        mandates: person_mandates(&views, now),
        can_create,
        can_erase,
    });
    Ok(ctx.finish(&state, page))
}

/// Asks a manager before erasing a person's identity at their request (docs/retention.md).
pub(super) async fn confirm_erasure(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (_, structure) = ctx.require(Role::Manager)?;
    let (sid, id) = (structure.id.clone(), path.into_inner());
    let (u, _) = state
        .run(move |conn, env| mandates::usager_in(conn, env.now, &sid, &id)?.ok_or(Error::NotFound))
        .await?;
    Ok(render(&ConfirmPage {
        layout: ctx.layout(&state),
        title: format!("Effacer l’identité de {} ?", u.display_name()),
        message: "À faire quand la personne le demande. Ses mandats encore en cours prennent fin tout de suite, puis son nom, sa date et son lieu de naissance et son adresse électronique sont effacés de Procura. Restent, sans son identité, les dates et les démarches de ses mandats et le journal. Cette action est définitive et enregistrée au journal.".into(),
        button: "Effacer l’identité".into(),
        action: req.path().to_string(),
        back: format!("/usagers/{}", u.id),
    }))
}

/// Erases the identity of a person of the structure at their request.
pub(super) async fn erase(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    ctx.check_csrf(&form.csrf_token)?;
    let by = ctx.acting(Role::Manager)?;
    let id = path.into_inner();
    let target = id.clone();
    state
        .run(move |db, env| crate::person::erase::erase_for_structure(db, env.now, &by, &target))
        .await?;
    Ok(super::super::session::with_flash(
        &state,
        &ctx,
        see_other(&format!("/usagers/{id}")),
        "L’identité de la personne est effacée et ses mandats en cours ont pris fin.",
    ))
}

#[cfg(test)]
mod tests {
    use super::remaining;
    use chrono::NaiveDateTime;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time")
    }

    #[test]
    fn the_remaining_validity_is_said_in_paris_days() {
        // 12:05 UTC in March is 13:05 in Paris.
        assert_eq!(
            remaining(t("2026-03-03 08:00"), t("2026-03-03 12:05")),
            "se termine aujourd’hui à 13 h 05"
        );
        // 22:30 UTC on a summer day is already the next day in Paris (00:30).
        assert_eq!(
            remaining(t("2026-07-01 21:00"), t("2026-07-01 22:30")),
            "se termine demain à 0 h 30"
        );
        assert_eq!(
            remaining(t("2026-03-03 08:00"), t("2026-03-26 08:00")),
            "encore 23 jours (jusqu’au 26 mars 2026 à 9 h 00)"
        );
    }
}
