//! The `procura` binary itself: help, configuration errors, serve.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::*;

#[test]
fn help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_procura"))
        .arg("--help")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "structure", "journal", "config"] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
}

#[test]
fn each_malformed_setting_stops_with_exit_2_naming_it() {
    let db = TestDb::new();
    for (name, value) in [
        ("PROCURA_DATABASE_URL", "mysql://localhost/x"),
        ("PROCURA_BIND", "not-an-address"),
        ("PROCURA_PUBLIC_URL", "procura.example.fr"),
        ("PROCURA_MASTER_KEY", "dG9vIHNob3J0"),
        ("PROCURA_POOL_SIZE", "0"),
        ("PROCURA_LOG_FORMAT", "yaml"),
        ("PROCURA_SHUTDOWN_TIMEOUT", "-1"),
        ("PROCURA_FC_ISSUER", "javascript:alert(1)"),
        ("PROCURA_THEME", "rose"),
        ("PROCURA_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example.fr"),
    ] {
        let out = procura(&db)
            .args(["config"])
            .env(name, value)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(name), "{name} not named: {err}");
    }
    // A missing --config file is named too.
    let out = procura_run(&db, &["--config", "/nonexistent/procura.toml", "config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn environment_overrides_the_file_which_overrides_defaults() {
    let db = TestDb::new();
    let file = db.dir.path().join("procura.toml");
    std::fs::write(&file, "pool_size = 3\nlog_format = \"json\"\n").expect("write");
    let out = procura(&db)
        .args([
            "--config",
            file.to_str().expect("utf-8"),
            "config",
            "--json",
        ])
        .env("PROCURA_POOL_SIZE", "5")
        .output()
        .expect("run");
    let v = json_of(&out);
    assert_eq!(v["pool_size"], 5);
    assert_eq!(v["log_format"], "json");
    assert_eq!(v["bind"], "127.0.0.1:8080");
    // A malformed file is a configuration error.
    std::fs::write(&file, "pool_size = [").expect("write");
    let out = procura_run(&db, &["--config", file.to_str().expect("utf-8"), "config"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn production_start_without_master_key_is_refused() {
    let db = TestDb::new();
    let out = procura(&db)
        .args(["serve"])
        .env_remove("PROCURA_MASTER_KEY")
        .env("PROCURA_BIND", "127.0.0.1:0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROCURA_MASTER_KEY"));
}

#[test]
fn serve_demo_answers_readyz_and_stops_on_sigterm() {
    let db = TestDb::new();
    let (mut child, base) = spawn_demo(&db, Stdio::piped(), Stdio::null());
    let ready = ready_within_a_minute(&base);
    let _ = std::io::stderr().flush();
    assert!(sigterm(&child));
    let status = child.wait().expect("wait");
    assert!(ready, "serve --demo never became ready");
    assert_eq!(status.code(), Some(0));
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut stdout)
        .expect("read");
    assert!(stdout.contains("DÉMONSTRATION"), "{stdout}");
    if db.sqlite_path().is_some() {
        let key = db.dir.path().join("data/master.key");
        let mode = std::fs::metadata(&key).expect("demo key").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert!(db.dir.path().join("data/procura.db").is_file());
    } else {
        let store = db.store(1);
        let actions = journal_actions(&store);
        assert_eq!(
            actions.first().map(String::as_str),
            Some("structure.created")
        );
        assert_eq!(actions.last().map(String::as_str), Some("service.stopped"));
    }
}
