//! Administration commands of the binary: `structure create`, `user create|deactivate`,
//! `client create`.

use procura::accounts::users;
use procura::federation::provider as op;
use serde_json::Value;

use crate::helpers::*;

#[test]
fn structure_create_prints_json_and_refuses_bad_siret() {
    let db = TestDb::new();
    let out = procura_run(
        &db,
        &[
            "structure",
            "create",
            "--name",
            "France Services Lyon 3",
            "--siret",
            "73282932000074",
            "--json",
        ],
    );
    let v = json_of(&out);
    assert!(
        v["id"].as_str().map(|s| s.len() == 36).unwrap_or(false),
        "{v}"
    );
    let out = procura_run(
        &db,
        &[
            "structure",
            "create",
            "--name",
            "X",
            "--siret",
            "73282932000075",
            "--json",
        ],
    );
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
    for line in [
        "user create --email x@exemple.fr --name X --role root",
        "user create --email scripted@exemple.fr --name X --role aidant",
        "user create --email z@exemple.fr --name Z --role aidant --totp-secret nope",
    ] {
        assert_eq!(run(&words(line), None).0, Some(2), "{line}");
    }
    let weak = words("user create --email y@exemple.fr --name Y --role aidant --password-stdin");
    assert_eq!(run(&weak, Some("short\n")).0, Some(2), "weak password");
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
        "--demarche",
        "argent",
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
        "--all-demarches",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    assert!(serde_json::from_str::<Value>(out.trim()).expect("json")["client_secret"].is_null());
    // Refused: plain http off loopback, a fragment, an unsupported authentication method.
    for line in [
        "client create --name X --redirect-uri http://site.example.fr/cb --all-demarches",
        "client create --name X --redirect-uri https://a.fr/cb#frag --all-demarches",
        "client create --name X --redirect-uri https://a.fr/cb --auth-method private_key_jwt --all-demarches",
    ] {
        assert_eq!(run(&words(line)).0, Some(2), "{line}");
    }
    // The secret is stored hashed.
    let store = db.store(1);
    let mut conn = store.conn().expect("conn");
    let c = op::client(&mut conn, v["client_id"].as_str().expect("id"))
        .expect("q")
        .expect("exists");
    assert_ne!(c.secret_hash.as_deref(), v["client_secret"].as_str());
    assert!(c.secret_matches(v["client_secret"].as_str().expect("s")));
}

#[test]
fn client_list_and_update_through_the_cli() {
    let db = TestDb::new();
    let run = |line: &str| run_procura(&db.url, &words(line), None);
    let json = |out: &str| -> Value { serde_json::from_str(out.trim()).expect("json") };
    let (code, out) = run(
        "client create --name FranceConnect --redirect-uri https://fc.example.fr/cb --auth-method client_secret_post --pkce optional --demarche social --demarche logement --json",
    );
    assert_eq!(code, Some(0), "{out}");
    let created = json(&out);
    let id = created["client_id"].as_str().expect("id").to_string();
    assert_eq!(
        created["demarches"],
        serde_json::json!(["social", "logement"])
    );
    assert_eq!(created["pkce"], "optional");
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    // Refusals: exit 2, nothing registered, nothing journaled.
    let entries = journal_actions(&db.store(1)).len();
    for line in [
        // neither --demarche nor --all-demarches
        "client create --name X --redirect-uri https://x.fr/cb",
        "client create --name X --redirect-uri https://x.fr/cb --demarche impots",
        "client create --name X --redirect-uri https://x.fr/cb --demarche social --all-demarches",
        // PKCE optional needs a secret
        "client create --name X --redirect-uri https://x.fr/cb --auth-method none --pkce optional --all-demarches",
        "client create --name X --redirect-uri https://x.fr/cb --all-demarches --userinfo-alg HS256",
        "client create --redirect-uri https://x.fr/cb --all-demarches",
        "client update --client-id nope --all-demarches",
        &format!("client update --client-id {id} --auth-method none"),
        &format!("client update --client-id {id} --demarche inconnue"),
    ] {
        let (code, out) = run(line);
        assert_eq!(code, Some(2), "{line}: {out}");
    }
    let (code, _) = run_procura(
        &db.url,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.fr/cb\nhttps://evil.fr/cb",
            "--all-demarches",
        ],
        None,
    );
    assert_eq!(code, Some(2), "a control character in a redirect URI");
    assert_eq!(
        journal_actions(&db.store(1)).len(),
        entries,
        "nothing journaled"
    );
    // Update: only the flags given change; the secret is kept.
    let (code, out) = run(&format!(
        "client update --client-id {id} --all-demarches --userinfo-alg ES256 --json"
    ));
    assert_eq!(code, Some(0), "{out}");
    let updated = json(&out);
    assert_eq!(updated["demarches"], "*");
    assert_eq!(updated["userinfo_alg"], "ES256");
    assert_eq!(updated["pkce"], "optional");
    assert_eq!(updated["auth_method"], "client_secret_post");
    assert!(updated["client_secret"].is_null(), "no new secret");
    let store = db.store(1);
    let mut conn = store.conn().expect("conn");
    let c = op::client(&mut conn, &id).expect("q").expect("exists");
    assert!(c.secret_matches(&secret));
    drop(conn);
    assert!(journal_has(&store, "client.updated", "ES256"));
    // The same update again changes nothing and journals nothing.
    let entries = journal_actions(&store).len();
    let (code, _) = run(&format!(
        "client update --client-id {id} --all-demarches --userinfo-alg ES256"
    ));
    assert_eq!(code, Some(0));
    assert_eq!(journal_actions(&store).len(), entries);
    // List: every client with its settings, never a secret.
    let (code, out) = run("client list --json");
    assert_eq!(code, Some(0), "{out}");
    let list = json(&out);
    let listed = list
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["name"], "FranceConnect");
    assert_eq!(
        listed["redirect_uris"],
        serde_json::json!(["https://fc.example.fr/cb"])
    );
    assert!(!out.contains(&secret) && !out.contains("secret_hash"));
}
