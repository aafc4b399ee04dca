//! Administration commands of the binary: `structure create`, `user create|deactivate`,
//! `client create`.

use procura::accounts::users;
use procura::federation::provider as op;
use serde_json::Value;

use crate::helpers::*;

#[test]
fn structure_create_prints_json_and_refuses_bad_siret() {
    let db = TestDb::new();
    let out = procura(&db)
        .args([
            "structure",
            "create",
            "--name",
            "France Services Lyon 3",
            "--siret",
            "73282932000074",
            "--json",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["id"].as_str().map(|s| s.len() == 36).unwrap_or(false),
        "{v}"
    );
    let out = procura(&db)
        .args([
            "structure",
            "create",
            "--name",
            "X",
            "--siret",
            "73282932000075",
            "--json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let store = db.store(1);
    let actions = journal_actions(&store);
    assert_eq!(actions, vec!["structure.created"]);
}

#[test]
fn user_create_and_deactivate_through_the_cli() {
    let db = TestDb::new();
    let run = |args: &[&str], stdin: Option<&str>| run_procura(&db.url, args, stdin);
    let (code, out) = run(
        &[
            "structure",
            "create",
            "--name",
            "S",
            "--siret",
            "73282932000074",
            "--json",
        ],
        None,
    );
    assert_eq!(code, Some(0));
    let sid = serde_json::from_str::<serde_json::Value>(out.trim()).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (code, out) = run(
        &[
            "user",
            "create",
            "--email",
            "Scripted@Exemple.fr",
            "--name",
            "Scripté",
            "--role",
            "aidant",
            "--role",
            "manager",
            "--structure",
            &sid,
            "--password-stdin",
            "--totp-secret",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "--json",
        ],
        Some("une phrase de passe solide\n"),
    );
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        v["id"].is_string() && v.get("enrolment_url").is_none(),
        "{v}"
    );
    let (code, out) = run(
        &[
            "user",
            "create",
            "--email",
            "link@exemple.fr",
            "--name",
            "Lien",
            "--role",
            "auditor",
            "--json",
        ],
        None,
    );
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        v["enrolment_url"]
            .as_str()
            .unwrap_or_default()
            .contains("/activation/"),
        "{v}"
    );
    // Bad input: unknown role (clap), duplicate e-mail, weak password, bad secret.
    assert_eq!(
        run(
            &[
                "user",
                "create",
                "--email",
                "x@exemple.fr",
                "--name",
                "X",
                "--role",
                "root"
            ],
            None
        )
        .0,
        Some(2)
    );
    assert_eq!(
        run(
            &[
                "user",
                "create",
                "--email",
                "scripted@exemple.fr",
                "--name",
                "X",
                "--role",
                "aidant"
            ],
            None
        )
        .0,
        Some(2)
    );
    assert_eq!(
        run(
            &[
                "user",
                "create",
                "--email",
                "y@exemple.fr",
                "--name",
                "Y",
                "--role",
                "aidant",
                "--password-stdin"
            ],
            Some("short\n")
        )
        .0,
        Some(2)
    );
    assert_eq!(
        run(
            &[
                "user",
                "create",
                "--email",
                "z@exemple.fr",
                "--name",
                "Z",
                "--role",
                "aidant",
                "--totp-secret",
                "nope"
            ],
            None
        )
        .0,
        Some(2)
    );
    let (code, _) = run(
        &[
            "user",
            "deactivate",
            "--email",
            "SCRIPTED@exemple.fr",
            "--json",
        ],
        None,
    );
    assert_eq!(code, Some(0));
    let store = db.store(1);
    let mut conn = store.conn().expect("conn");
    let u = users::find_by_email(&mut conn, "scripted@exemple.fr")
        .expect("q")
        .expect("exists");
    assert!(!u.active);
    assert_eq!(u.roles, "aidant,manager");
    drop(conn);
    let actions = journal_actions(&store);
    assert_eq!(count_of(&actions, "account.created"), 2);
    assert!(actions.contains(&"account.deactivated".to_string()));
}

#[test]
fn client_create_through_the_cli() {
    let db = TestDb::new();
    let run = |args: &[&str]| run_procura(&db.url, args, None);
    let (code, out) = run(&[
        "client",
        "create",
        "--name",
        "Impots",
        "--redirect-uri",
        "https://impots.example.fr/cb",
        "--post-logout-redirect-uri",
        "https://impots.example.fr/bye",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        v["client_id"].is_string()
            && v["client_secret"]
                .as_str()
                .map(|s| s.len() == 43)
                .unwrap_or(false),
        "{v}"
    );
    let (code, out) = run(&[
        "client",
        "create",
        "--name",
        "Public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--auth-method",
        "none",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    assert!(serde_json::from_str::<Value>(out.trim()).expect("json")["client_secret"].is_null());
    assert_eq!(
        run(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "http://site.example.fr/cb"
        ])
        .0,
        Some(2),
        "http only on loopback"
    );
    assert_eq!(
        run(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://a.fr/cb#frag"
        ])
        .0,
        Some(2)
    );
    assert_eq!(
        run(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://a.fr/cb",
            "--auth-method",
            "private_key_jwt"
        ])
        .0,
        Some(2)
    );
    // The secret is stored hashed.
    let store = db.store(1);
    let mut conn = store.conn().expect("conn");
    let c = op::client(&mut conn, v["client_id"].as_str().expect("id"))
        .expect("q")
        .expect("exists");
    assert_ne!(c.secret_hash.as_deref(), v["client_secret"].as_str());
    assert!(c.secret_matches(v["client_secret"].as_str().expect("s")));
}
