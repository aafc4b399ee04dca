//! The auditor's space (`/audit`) and the manager's journal (`/gestion/journal`):
//! filters, keyset pages, refusals, names, confinement, "Vérifier maintenant".

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use procura::clock::Clock;
use procura::domain::mandate::MandateDuration;
use procura::domain::roles::Role;

use crate::helpers::*;

/// The seqs of the rows of a journal page, in page order.
fn seqs(body: &str) -> Vec<i64> {
    body.split("<tr>\n    <td>")
        .skip(1)
        .map(|s| s[..s.find('<').expect("cell end")].parse().expect("seq"))
        .collect()
}

/// The actions of the rows of a journal page.
fn actions(body: &str) -> Vec<String> {
    let tail = "</code><span class=\"fr-sr-only\"> : filtrer sur cette action";
    body.split(tail)
        .collect::<Vec<_>>()
        .split_last()
        .map(|(_, heads)| {
            heads
                .iter()
                .map(|h| h[h.rfind("<code>").expect("code") + 6..].to_string())
                .collect()
        })
        .unwrap_or_default()
}

struct World {
    app: TestApp,
    clock: procura::clock::FixedClock,
    s: procura::accounts::structures::Structure,
    t: procura::accounts::structures::Structure,
    manager: Account,
    aidant: Account,
    other_aidant: Account,
    auditor: Account,
    mandate_s: procura::mandates::Created,
    mandate_t: procura::mandates::Created,
}

/// Two structures (« Maison Nord », « Centre Sud »), each with an aidant and a mandate,
/// a manager of the first and an auditor of none.
fn world() -> World {
    let (app, clock) = app_with_clock(&[]);
    let s = structure(&app.store, &clock, "Maison Nord", 301);
    let t = structure(&app.store, &clock, "Centre Sud", 302);
    let manager = member(&app, &clock, "m@exemple.fr", &[Role::Manager], &s);
    let aidant = member(&app, &clock, "a@exemple.fr", &[Role::Aidant], &s);
    let other_aidant = member(&app, &clock, "b@exemple.fr", &[Role::Aidant], &t);
    let auditor = account(
        &app.store,
        &clock,
        "audit@exemple.fr",
        &[Role::Auditor],
        None,
    );
    let mandate_s = seed_mandate(
        &app.store,
        &clock,
        &aidant,
        &s,
        "sub-s",
        &["social"],
        MandateDuration::Month,
    );
    let mut other = identity("sub-t");
    other.given_name = "Bernard".into();
    other.family_name = "MARTIN".into();
    let mandate_t = seed_mandate_for(
        &app.store,
        &clock,
        &other_aidant,
        &t,
        &other,
        &["logement"],
        MandateDuration::Month,
    );
    World {
        app,
        clock,
        s,
        t,
        manager,
        aidant,
        other_aidant,
        auditor,
        mandate_s,
        mandate_t,
    }
}

#[test]
fn an_auditor_without_structure_sees_every_structure_with_names() {
    let w = world();
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let page = web.get("/audit");
    assert_eq!(page.status, 200, "{}", page.body);
    let head = journal_entries(&w.app.store).last().expect("entries").seq;
    let shown = seqs(&page.body);
    assert_eq!(shown.first(), Some(&head), "newest first");
    assert!(shown.windows(2).all(|p| p[0] > p[1]));
    // Names from live tables: structures, accounts (actors), usagers.
    for name in [
        "Maison Nord",
        "Centre Sud",
        "Angela Claire Louise DUBOIS",
        "Bernard MARTIN",
        "Compte audit@exemple.fr",
    ] {
        assert!(page.body.contains(name), "{name}");
    }
    // Ids link to the page filtered by them.
    assert!(page.body.contains(&format!("/audit?structure={}", w.t.id)));
    assert!(page
        .body
        .contains(&format!("/audit?mandate={}", w.mandate_s.mandate.id)));
    assert!(page
        .body
        .contains(&format!("/audit?actor=user%3A{}", w.auditor.user.id)));
    // The chain's status, the export link, the button.
    assert!(page.body.contains("État de la chaîne"));
    assert!(page.body.contains(&format!("dernière entrée n° {head}")));
    assert!(page.body.contains("aucune vérification enregistrée"));
    assert!(page.body.contains("href=\"/audit/export?\""));
    assert!(page.body.contains("Vérifier maintenant"));
    // Entries themselves stay id-only.
    assert!(!journal_mentions(&w.app.store, "DUBOIS"));
    // The auditor's home page links here.
    assert!(web.get("/espace").body.contains("href=\"/audit\""));
}

#[test]
fn each_filter_alone_and_combined() {
    let w = world();
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let all = journal_entries(&w.app.store);
    let expect = |query: &str, keep: &dyn Fn(&procura::journal::Entry) -> bool| {
        let page = web.get(&format!("/audit?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        let want: Vec<i64> = all
            .iter()
            .rev()
            .filter(|e| keep(e))
            .map(|e| e.seq)
            .collect();
        assert!(
            !want.is_empty() || query.contains("to="),
            "{query}: a test that cannot fail"
        );
        assert_eq!(seqs(&page.body), want, "{query}");
        page
    };
    let usager_s = w.mandate_s.mandate.usager_id.clone();
    let page = expect("action=mandate.created", &|e| e.action == "mandate.created");
    assert_eq!(
        actions(&page.body),
        vec!["mandate.created", "mandate.created"]
    );
    expect(&format!("structure={}", w.t.id), &|e| {
        e.structure_id.as_deref() == Some(&w.t.id)
    });
    let actor = format!("user:{}", w.aidant.user.id);
    // The aidant of S logs in: an entry with that actor.
    logged_in(&w.app, &w.clock, &w.aidant);
    let all = journal_entries(&w.app.store);
    let page = web.get(&format!("/audit?actor={}", actor.replace(':', "%3A")));
    let want: Vec<i64> = all
        .iter()
        .rev()
        .filter(|e| e.actor.as_deref() == Some(&actor))
        .map(|e| e.seq)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(seqs(&page.body), want);
    let expect = |query: &str, keep: &dyn Fn(&procura::journal::Entry) -> bool| {
        let page = web.get(&format!("/audit?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        let want: Vec<i64> = all
            .iter()
            .rev()
            .filter(|e| keep(e))
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs(&page.body), want, "{query}: {}", page.body);
        want.len()
    };
    assert!(
        expect(&format!("usager={usager_s}"), &|e| e.usager_id.as_deref()
            == Some(&usager_s))
            >= 2
    );
    assert_eq!(
        expect(&format!("mandate={}", w.mandate_t.mandate.id), &|e| e
            .mandate_id
            .as_deref()
            == Some(&w.mandate_t.mandate.id)),
        1
    );
    // Combined: all of them apply.
    assert_eq!(
        expect(
            &format!("action=mandate.created&structure={}", w.s.id),
            &|e| e.action == "mandate.created" && e.structure_id.as_deref() == Some(&w.s.id)
        ),
        1
    );
    assert_eq!(
        expect(
            &format!(
                "action=mandate.created&usager={usager_s}&structure={}",
                w.t.id
            ),
            &|_| false
        ),
        0
    );
    // Empty values are no filter (the filter form sends every field).
    assert_eq!(
        expect(
            "action=&structure=&actor=&usager=&mandate=&from=&to=",
            &|_| true
        ),
        all.len().min(50)
    );
}

#[test]
fn dates_are_inclusive_paris_days() {
    let w = world();
    let day0 = w.clock.now().date_naive();
    w.clock.advance(Duration::days(2));
    structure(&w.app.store, &w.clock, "Troisième", 303);
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let day2 = w.clock.now().date_naive();
    let all = journal_entries(&w.app.store);
    let on = |days: &[chrono::NaiveDate]| -> Vec<i64> {
        all.iter()
            .rev()
            .filter(|e| days.contains(&procura::domain::french::paris(e.at).date()))
            .map(|e| e.seq)
            .collect()
    };
    assert!(!on(&[day0]).is_empty() && !on(&[day2]).is_empty());
    let d = |x: chrono::NaiveDate| x.format("%Y-%m-%d").to_string();
    let rows = |q: &str| {
        let p = web.get(&format!("/audit?{q}"));
        assert_eq!(p.status, 200, "{q}");
        seqs(&p.body)
    };
    assert_eq!(rows(&format!("from={}", d(day2))), on(&[day2]));
    assert_eq!(rows(&format!("to={}", d(day0))), on(&[day0]));
    assert_eq!(
        rows(&format!("from={}&to={}", d(day0), d(day0))),
        on(&[day0])
    );
    assert_eq!(
        rows(&format!("from={}&to={}", d(day0), d(day2))),
        on(&[day0, day2])
    );
    let gap = day0.succ_opt().expect("day");
    let page = web.get(&format!("/audit?from={}&to={}", d(gap), d(gap)));
    assert_eq!(page.status, 200);
    assert!(seqs(&page.body).is_empty());
    assert!(page.body.contains("Aucune entrée ne correspond."));
}

/// The filter's days are Paris days: at 23:30 UTC on a summer day, it is already the next
/// day in Paris (01:30), and the entry is found under that day.
#[test]
fn an_entry_late_in_the_utc_evening_belongs_to_the_next_paris_day() {
    let w = world();
    let late = chrono::NaiveDate::from_ymd_opt(2030, 7, 1)
        .and_then(|d| d.and_hms_opt(23, 30, 0))
        .expect("time")
        .and_utc();
    w.clock.set(late);
    structure(&w.app.store, &w.clock, "Tard le soir", 304);
    let seq = journal_entries(&w.app.store)
        .iter()
        .find(|e| e.action == "structure.created" && e.at == late.naive_utc())
        .map(|e| e.seq)
        .expect("the late entry");
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let on = |day: &str| seqs(&web.get(&format!("/audit?from={day}&to={day}")).body);
    assert!(on("2030-07-02").contains(&seq), "2 July in Paris");
    assert!(!on("2030-07-01").contains(&seq), "not 1 July");
    let page = web.get("/audit");
    assert!(page.body.contains("à l’heure de Paris"), "the hint says so");
    assert!(!page.body.contains("(UTC)"));
}

#[test]
fn pages_of_fifty_with_after() {
    let w = world();
    for i in 0..60 {
        structure(&w.app.store, &w.clock, &format!("Structure {i}"), 400 + i);
    }
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let head = journal_entries(&w.app.store).last().expect("e").seq;
    let first = web.get("/audit?action=structure.created");
    let s1 = seqs(&first.body);
    assert_eq!(s1.len(), 50);
    let last = *s1.last().expect("rows");
    let link = format!("/audit?action=structure.created&amp;after={last}");
    assert!(
        first.body.contains(&link),
        "Plus anciennes keeps the filters"
    );
    assert!(first.body.contains("Plus anciennes"));
    let second = web.get(&format!("/audit?action=structure.created&after={last}"));
    let s2 = seqs(&second.body);
    assert_eq!(s2.len(), 62 - 50, "60 + Maison Nord + Centre Sud");
    assert!(s2.iter().all(|s| *s < last));
    assert!(!second.body.contains("Plus anciennes"));
    assert!(second.body.contains("Plus récentes"));
    // Unfiltered, from the head; after = head + 1 is the first page.
    let page = web.get("/audit");
    assert_eq!(seqs(&page.body).first(), Some(&head));
    assert_eq!(
        seqs(&web.get(&format!("/audit?after={}", head + 1)).body).first(),
        Some(&head)
    );
    assert_eq!(seqs(&web.get("/audit?after=2").body), vec![1]);
    assert!(seqs(&web.get("/audit?after=1").body).is_empty());
}

#[test]
fn malformed_filters_are_refused_with_french_messages() {
    let w = world();
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let head = journal_entries(&w.app.store).last().expect("e").seq;
    let cases = [
        ("nope=1".to_string(), "Paramètre inconnu"),
        ("action=a&action=b".into(), "deux fois"),
        ("from=2026-02-30".into(), "date AAAA-MM-JJ"),
        ("to=demain".into(), "date AAAA-MM-JJ"),
        (
            "from=2026-11-02&to=2026-11-01".into(),
            "après la date de fin",
        ),
        ("after=abc".into(), "numéro d’entrée"),
        ("after=-3".into(), "numéro d’entrée"),
        ("after=0".into(), "compris entre 1 et"),
        (format!("after={}", head + 2), "compris entre 1 et"),
        (
            "usager=%3Cscript%3E".into(),
            "n’est pas un identifiant valide",
        ),
        ("action=drop%20table".into(), "code d’action"),
    ];
    for (q, message) in cases {
        let r = web.get(&format!("/audit?{q}"));
        assert_eq!(r.status, 400, "{q}");
        assert!(html_unescape(&r.body).contains(message), "{q}: {}", r.body);
        assert!(!r.body.contains("<script>"), "{q}");
    }
    let r = web.get("/gestion/journal?after=0");
    assert_eq!(r.status, 403, "the auditor is not a manager");
    assert_eq!(
        journal_entries(&w.app.store).last().expect("e").seq,
        head,
        "nothing written"
    );
}

#[test]
fn managers_see_their_structure_only() {
    let w = world();
    let web = logged_in(&w.app, &w.clock, &w.manager);
    assert!(web
        .get("/gestion")
        .body
        .contains("href=\"/gestion/journal\""));
    let page = web.get("/gestion/journal");
    assert_eq!(page.status, 200, "{}", page.body);
    let all = journal_entries(&w.app.store);
    let want: Vec<i64> = all
        .iter()
        .rev()
        .filter(|e| e.structure_id.as_deref() == Some(&w.s.id))
        .map(|e| e.seq)
        .collect();
    assert!(want.len() >= 4);
    assert_eq!(seqs(&page.body), want);
    assert!(!page.body.contains(&w.t.id));
    assert!(!page.body.contains(&w.other_aidant.user.id));
    // Names are for auditors; ids link within the manager's view.
    assert!(!page.body.contains("DUBOIS"));
    assert!(page.body.contains(&format!(
        "/gestion/journal?mandate={}",
        w.mandate_s.mandate.id
    )));
    assert!(!page.body.contains("Vérifier maintenant"));
    let filtered = web.get(&format!(
        "/gestion/journal?mandate={}",
        w.mandate_s.mandate.id
    ));
    assert!(filtered.body.contains(&format!(
        "href=\"/gestion/journal/export?mandate={}\"",
        w.mandate_s.mandate.id
    )));
    // Another structure, even by a crafted query: refused, or nothing.
    let r = web.get(&format!("/gestion/journal?structure={}", w.t.id));
    assert_eq!(r.status, 403);
    assert!(html_unescape(&r.body).contains("limité à votre structure"));
    assert_eq!(
        seqs(
            &web.get(&format!("/gestion/journal?structure={}", w.s.id))
                .body
        ),
        want
    );
    let r = web.get(&format!(
        "/gestion/journal?usager={}",
        w.mandate_t.mandate.usager_id
    ));
    assert_eq!(r.status, 200);
    assert!(seqs(&r.body).is_empty());
    let r = web.get(&format!(
        "/gestion/journal?actor=user%3A{}",
        w.other_aidant.user.id
    ));
    assert!(seqs(&r.body).is_empty());
    assert_eq!(web.get("/gestion/journal?x=1").status, 400);
    // A manager is not an auditor.
    assert_eq!(web.get("/audit").status, 403);
}

#[test]
fn access_is_for_auditors_and_managers() {
    let w = world();
    let aidant = logged_in(&w.app, &w.clock, &w.aidant);
    assert_eq!(aidant.get("/audit").status, 403);
    assert_eq!(aidant.get("/gestion/journal").status, 403);
    let r = aidant.submit("/espace", "/audit/verifier", &[]);
    assert_eq!(r.status, 403);
    let anonymous = Web::new(&w.app);
    for path in ["/audit", "/gestion/journal"] {
        let r = anonymous.get(path);
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some("/connexion"));
    }
    let auditor = logged_in(&w.app, &w.clock, &w.auditor);
    let r = auditor.post("/audit/verifier", &[("csrf_token", "faux")]);
    assert_eq!(r.status, 403, "CSRF");
    assert_eq!(journal_count(&w.app.store, "journal.verified", ""), 0);
}

/// Waits for the `n`-th `journal.verified` entry.
fn verified(store: &procura::store::Store, n: usize) -> procura::journal::Entry {
    let started = Instant::now();
    loop {
        let v: Vec<_> = journal_entries(store)
            .into_iter()
            .filter(|e| e.action == "journal.verified")
            .collect();
        if v.len() >= n {
            return v[n - 1].clone();
        }
        assert!(
            started.elapsed() < StdDuration::from_secs(30),
            "no journal.verified"
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
}

#[test]
fn verify_now_journals_its_result() {
    let w = world();
    let web = logged_in(&w.app, &w.clock, &w.auditor);
    let r = web.submit("/audit", "/audit/verifier", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/audit"));
    let e = verified(&w.app.store, 1);
    assert_eq!(
        e.actor.as_deref(),
        Some(format!("user:{}", w.auditor.user.id).as_str())
    );
    let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
    assert_eq!(d["intact"], true);
    assert_eq!(d["entries"], e.seq - 1);
    assert_eq!(d["last_seq"], e.seq - 1);
    assert!(d["checkpoints"].is_u64());
    assert!(d.get("problem_kind").is_none());
    // The page shows it (once the run has let go).
    let started = Instant::now();
    let page = loop {
        let p = web.get("/audit");
        if !p.body.contains("Vérification en cours")
            || started.elapsed() > StdDuration::from_secs(10)
        {
            break p;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    };
    assert!(page.body.contains("fr-badge--success"), "{}", page.body);
    assert!(page
        .body
        .contains(&format!("intact ({} entrées vérifiées)", e.seq - 1)));
    assert!(!page.body.contains("Vérification en cours"));

    // Altered with the triggers off: not intact, with its kind and seq.
    allow_journal_edits(&w.app.store);
    exec_sql(
        &w.app.store,
        "UPDATE journal_entries SET details = '{\"x\":1}' WHERE seq = 2",
    );
    let r = web.submit("/audit", "/audit/verifier", &[]);
    assert_eq!(r.status, 303);
    let e = verified(&w.app.store, 2);
    let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
    assert_eq!(d["intact"], false);
    assert_eq!(d["problem_kind"], "altered");
    assert_eq!(d["problem_seq"], 2);
    assert_eq!(d["last_seq"], 1);
    let started = Instant::now();
    let page = loop {
        let p = web.get("/audit");
        if p.body.contains("NON INTÈGRE") || started.elapsed() > StdDuration::from_secs(10) {
            break p;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    };
    assert!(
        html_unescape(&page.body).contains("problème « altered » à l’entrée 2"),
        "{}",
        page.body
    );
}
