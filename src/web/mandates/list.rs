//! The manager's list of the structure's mandates, and the aidant's home lists.

use super::*;

/// A row of the manager's list.
pub struct ListRow {
    m: MandateBlock,
    usager: String,
    usager_id: String,
    demarches: String,
}

#[derive(Template)]
#[template(path = "manager_mandates.html")]
struct ManagerMandates {
    layout: Layout,
    rows: Vec<ListRow>,
    next: Option<String>,
    aidants: Vec<(String, String)>,
    demarches: &'static [Demarche],
    states: Vec<(&'static str, &'static str)>,
    f_aidant: String,
    f_demarche: String,
    f_state: String,
}

/// Filters of the manager's list, and the page key (`avant`).
#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    aidant: String,
    #[serde(default)]
    demarche: String,
    #[serde(default)]
    etat: String,
    #[serde(default)]
    avant: String,
}

/// Mandates per page of the manager's list.
const LIST_PAGE: i64 = 50;

/// The page key: the last mandate's creation time (microseconds) and id.
fn page_key(at: &NaiveDateTime, id: &str) -> String {
    format!("{}~{id}", at.and_utc().timestamp_micros())
}

fn parse_page_key(s: &str) -> Option<(NaiveDateTime, String)> {
    let (micros, id) = s.split_once('~')?;
    let micros: i64 = micros.parse().ok()?;
    // Mandates exist between 1970 and 9999; anything else is not a key we gave out.
    if !(0..=253_402_300_799_999_999).contains(&micros) {
        return None;
    }
    let at = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    let uuid_like = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    uuid_like.then(|| (at, id.to_string()))
}

pub(super) async fn manager_list(
    m: Manager,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let q = q.into_inner();
    if !q.demarche.is_empty() && rules::demarche(&q.demarche).is_none() {
        return Err(WebError::BadRequest(format!(
            "Démarche inconnue : {:?}.",
            q.demarche
        )));
    }
    let states = [
        AuthorisationState::Active,
        AuthorisationState::Expired,
        AuthorisationState::Revoked,
        AuthorisationState::Superseded,
    ];
    let state_filter = match q.etat.as_str() {
        "" => None,
        e => Some(
            *states
                .iter()
                .find(|s| s.code() == e)
                .ok_or_else(|| WebError::BadRequest(format!("État inconnu : {e:?}.")))?,
        ),
    };
    let before = match q.avant.as_str() {
        "" => None,
        k => Some(parse_page_key(k).ok_or_else(|| {
            WebError::BadRequest("Page demandée invalide (paramètre avant).".into())
        })?),
    };
    let filter = mandates::ListFilter {
        aidant: (!q.aidant.is_empty()).then(|| q.aidant.clone()),
        demarche: (!q.demarche.is_empty()).then(|| q.demarche.clone()),
        state: state_filter,
        before,
        name: None,
    };
    let by = m.acting().clone();
    let ((views, next), members) = state
        .run(move |db, env| {
            mandates::structure_list(db, env.now, &by.structure_id, &filter, LIST_PAGE)
        })
        .await?;
    let rows = views
        .iter()
        .map(|v| ListRow {
            m: block(v),
            usager: v.usager.display_name(),
            usager_id: v.usager.id.clone(),
            demarches: v
                .authorisations
                .iter()
                .map(|(a, _)| {
                    rules::demarche(&a.demarche)
                        .map(|d| d.label.to_string())
                        .unwrap_or_else(|| a.demarche.clone())
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let next = next.map(|(at, id)| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("aidant", q.aidant.as_str()),
                ("demarche", q.demarche.as_str()),
                ("etat", q.etat.as_str()),
                ("avant", page_key(&at, &id).as_str()),
            ])
            .finish()
    });
    Ok(render(&ManagerMandates {
        layout: m.layout(&state),
        rows,
        next,
        aidants: members
            .iter()
            .filter(|m| m.user.has(Role::Aidant))
            .map(|m| (m.user.id.clone(), m.user.name.clone()))
            .collect(),
        demarches: &DEMARCHES,
        states: states.iter().map(|s| (s.code(), s.label())).collect(),
        f_aidant: q.aidant,
        f_demarche: q.demarche,
        f_state: q.etat,
    }))
}

/// Data for the aidant's home: usagers with active mandates and those ending soon.
pub struct HomeMandates {
    /// Usagers with an active authorisation (search applied).
    pub usagers: Vec<(String, String, String, String)>,
    /// Usagers whose earliest active mandate ends within 30 days.
    pub expiring: Vec<(String, String, String)>,
}

/// How many usagers the home page lists at once (a search narrows it).
const HOME_LIMIT: i64 = 100;

/// Loads the home page's mandate lists (four queries whatever the structure's size).
pub async fn home_mandates(
    state: &web::Data<AppState>,
    structure_id: String,
    search: String,
) -> Result<HomeMandates, WebError> {
    state
        .run(move |db, env| {
            let now = env.now;
            let soon = (now + Duration::days(30)).naive_utc();
            let (found, expiring) =
                mandates::home_lists(db, now, &structure_id, &search, soon, HOME_LIMIT)?;
            Ok(HomeMandates {
                usagers: found
                    .iter()
                    .map(|a| {
                        (
                            a.usager.id.clone(),
                            a.usager.display_name(),
                            a.demarches
                                .iter()
                                .map(|c| rules::demarche(c).map_or(c.as_str(), |d| d.label))
                                .collect::<Vec<_>>()
                                .join(", "),
                            day(&a.next_expiry),
                        )
                    })
                    .collect(),
                expiring: expiring
                    .iter()
                    .map(|(u, exp)| (u.id.clone(), u.display_name(), day(exp)))
                    .collect(),
            })
        })
        .await
}

/// A mandate line of the aidant's home outside the active tab (expired, revoked, search).
pub struct HomeRow {
    /// The usager's id.
    pub usager_id: String,
    /// The usager's name.
    pub usager: String,
    /// The mandate's id.
    pub mandate_id: String,
    /// Its démarches.
    pub demarches: String,
    /// Its end.
    pub end: String,
    /// Its state, in French.
    pub state: &'static str,
    /// Whether it may be renewed (active or expired: not revoked, not replaced).
    pub renewable: bool,
}

/// The structure's mandates in `state` (None: every state) of usagers matching `search`,
/// newest first, at most [`HOME_LIMIT`].
pub async fn home_rows(
    state: &web::Data<AppState>,
    structure_id: String,
    wanted: Option<AuthorisationState>,
    search: String,
) -> Result<Vec<HomeRow>, WebError> {
    let filter = mandates::ListFilter {
        aidant: None,
        demarche: None,
        state: wanted,
        before: None,
        name: (!search.trim().is_empty()).then_some(search),
    };
    let (views, _) = state
        .run(move |db, env| {
            mandates::structure_page(db, env.now, &structure_id, &filter, HOME_LIMIT)
        })
        .await?;
    Ok(views
        .iter()
        .map(|v| {
            let b = block(v);
            HomeRow {
                usager_id: v.usager.id.clone(),
                usager: v.usager.display_name(),
                mandate_id: b.id,
                demarches: b
                    .auths
                    .iter()
                    .map(|a| a.label.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                end: b.end,
                state: b.state.label(),
                renewable: b.renewable,
            }
        })
        .collect())
}
