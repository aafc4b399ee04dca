//! The `migrate` command and the two migration trees (SQLite and PostgreSQL).

use crate::helpers::*;

#[test]
fn migrate_on_an_empty_database_then_again() {
    let db = TestDb::new();
    let out = procura(&db).arg("migrate").output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Migration appliquée"));
    if let Some(p) = db.sqlite_path() {
        assert!(p.is_file(), "SQLite file created");
    }
    let out = procura(&db).arg("migrate").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Aucune migration en attente"));
}

#[test]
fn both_backends_have_the_same_migrations() {
    let (sqlite, pg) = procura::store::migration_names();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, pg);
    // Same names is not enough: the SQL of each migration must say the same thing in
    // both trees, apart from the listed differences of dialect.
    let pairs = sql::load();
    assert_eq!(
        pairs.len(),
        2 * sqlite.len(),
        "an up.sql and a down.sql each"
    );
    let problems = sql::compare(&pairs);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_sql_comparison_sees_a_one_sided_change_and_ignores_layout() {
    let pairs = sql::load();
    assert!(sql::compare(&pairs).is_empty());
    // Comments, case, indentation and line breaks do not count.
    let mut relaid = sql::load();
    for p in &mut relaid {
        p.sqlite = p
            .sqlite
            .lines()
            .map(|l| format!("{}  -- relaid\n\n", l.to_lowercase().replace("    ", "\t ")))
            .collect();
    }
    assert_eq!(sql::compare(&relaid), Vec::<String>::new());
    // A column added to one tree only is caught, in either tree and either direction.
    for tree in [sql::Tree::Sqlite, sql::Tree::Postgres] {
        let mut changed = sql::load();
        let p = changed
            .iter_mut()
            .find(|p| p.migration.ends_with("_mandates") && p.file == "up.sql")
            .expect("the mandates migration");
        let text = match tree {
            sql::Tree::Sqlite => &mut p.sqlite,
            sql::Tree::Postgres => &mut p.postgres,
        };
        let end = text.find("\n);").expect("a CREATE TABLE");
        text.insert_str(end, ",\n    note TEXT");
        let problems = sql::compare(&changed);
        assert_eq!(problems.len(), 1, "{tree:?}: {problems:?}");
        assert!(
            problems[0].contains("_mandates/up.sql") && problems[0].contains("note text"),
            "{}",
            problems[0]
        );
    }
    // A statement present in one tree only is caught too.
    let mut changed = sql::load();
    let p = changed
        .iter_mut()
        .find(|p| p.migration.ends_with("_accounts") && p.file == "down.sql")
        .expect("the accounts migration");
    p.postgres.push_str("\nDROP INDEX forgotten_in_sqlite;\n");
    let problems = sql::compare(&changed);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("drop index forgotten_in_sqlite"));
}

/// Reading, normalising and comparing the two migration trees.
mod sql {
    use std::path::Path;

    /// One of the two migration trees.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Tree {
        Sqlite,
        Postgres,
    }

    /// Rewrites applied to each normalised statement of one tree, so that both trees
    /// spell a dialect difference the same way: (tree, from, to, why). Every entry must
    /// still be needed somewhere, or the comparison reports it as stale.
    const SUBSTITUTIONS: &[(Tree, &str, &str, &str)] = &[(
        Tree::Postgres,
        " default true",
        " default 1",
        "booleans: the SQLite tree writes its BOOLEAN defaults as 1",
    )];

    /// Statements that exist in one tree only, by migration and file: (migration name
    /// suffix, file, tree, start of the normalised statement, why). Each must match a
    /// statement, or the comparison reports it as stale.
    const ONE_SIDED: &[(&str, &str, Tree, &str, &str)] = &[
        // The journal's append-only guard: SQLite triggers carry their body, PostgreSQL
        // triggers call a plpgsql function, and only PostgreSQL has TRUNCATE. Both are
        // exercised by journal::the_database_refuses_update_delete_and_truncate.
        (
            "_foundation",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_entries_no_update before update on journal_entries begin select raise(abort,",
            "SQLite trigger with an inline body",
        ),
        (
            "_foundation",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_entries_no_delete before delete on journal_entries begin select raise(abort,",
            "SQLite trigger with an inline body",
        ),
        (
            "_foundation",
            "up.sql",
            Tree::Postgres,
            "create function journal_entries_append_only() returns trigger language plpgsql as $$",
            "PostgreSQL trigger function",
        ),
        (
            "_foundation",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_entries_no_update before update or delete on journal_entries for each row execute function journal_entries_append_only()",
            "PostgreSQL trigger calling the function",
        ),
        (
            "_foundation",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_entries_no_truncate before truncate on journal_entries for each statement execute function journal_entries_append_only()",
            "SQLite has no TRUNCATE",
        ),
        (
            "_foundation",
            "down.sql",
            Tree::Sqlite,
            "drop trigger journal_entries_no_delete",
            "PostgreSQL drops triggers with their table",
        ),
        (
            "_foundation",
            "down.sql",
            Tree::Sqlite,
            "drop trigger journal_entries_no_update",
            "PostgreSQL drops triggers with their table",
        ),
        (
            "_foundation",
            "down.sql",
            Tree::Postgres,
            "drop function journal_entries_append_only()",
            "the trigger function exists only in PostgreSQL",
        ),
        // The chain guard (issue 10): inline triggers in SQLite, whose AFTER INSERT trigger
        // moves the head row by row; plpgsql functions in PostgreSQL, where the BEFORE
        // INSERT trigger moves the head (AFTER row triggers wait for the statement's end)
        // and TRUNCATE of the head is refused too. Exercised by journal::the_database_accepts_an_insert_only_at_the_head.
        (
            "_journal_guard",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_entries_in_chain before insert on journal_entries begin select raise(abort,",
            "SQLite trigger with an inline body",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_entries_move_head after insert on journal_entries begin update journal_head",
            "SQLite trigger with an inline body",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_head_follows_entries before update on journal_head begin select raise(abort,",
            "SQLite trigger with an inline body",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_head_no_delete before delete on journal_head begin select raise(abort,",
            "SQLite trigger with an inline body",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Postgres,
            "create function journal_",
            "PostgreSQL trigger functions",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_entries_in_chain before insert on journal_entries for each row execute function journal_entries_in_chain()",
            "PostgreSQL trigger calling the function",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_head_follows_entries before update on journal_head for each row execute function journal_head_follows_entries()",
            "PostgreSQL trigger calling the function",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_head_no_delete before delete on journal_head for each row execute function journal_head_fixed()",
            "PostgreSQL trigger calling the function",
        ),
        (
            "_journal_guard",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_head_no_truncate before truncate on journal_head for each statement execute function journal_head_fixed()",
            "SQLite has no TRUNCATE",
        ),
        (
            "_journal_guard",
            "down.sql",
            Tree::Sqlite,
            "drop trigger journal_",
            "SQLite names a trigger without its table",
        ),
        (
            "_journal_guard",
            "down.sql",
            Tree::Postgres,
            "drop trigger journal_",
            "PostgreSQL names a trigger with its table",
        ),
        (
            "_journal_guard",
            "down.sql",
            Tree::Postgres,
            "drop function journal_",
            "the trigger functions exist only in PostgreSQL",
        ),
        // Checkpoints and tree nodes are never changed (issue 11): the same dialect
        // differences as the journal's guard. Exercised by
        // checkpoints::the_database_refuses_to_change_checkpoints_and_nodes.
        (
            "_journal_checkpoints",
            "up.sql",
            Tree::Sqlite,
            "create trigger journal_",
            "SQLite triggers with an inline body",
        ),
        (
            "_journal_checkpoints",
            "up.sql",
            Tree::Postgres,
            "create function journal_",
            "PostgreSQL trigger functions",
        ),
        (
            "_journal_checkpoints",
            "up.sql",
            Tree::Postgres,
            "create trigger journal_",
            "PostgreSQL triggers calling the function, TRUNCATE included",
        ),
        (
            "_journal_checkpoints",
            "down.sql",
            Tree::Sqlite,
            "drop trigger journal_",
            "PostgreSQL drops triggers with their table",
        ),
        (
            "_journal_checkpoints",
            "down.sql",
            Tree::Postgres,
            "drop function journal_",
            "the trigger functions exist only in PostgreSQL",
        ),
        // The accreditation's carry-over (issue 14): dates and intervals are spelled
        // differently (SQLite's date()/datetime() modifiers, PostgreSQL's casts and
        // intervals). Exercised by accreditation::the_upgrade_carries_existing_aidants_over.
        (
            "_accreditation",
            "up.sql",
            Tree::Sqlite,
            "insert into trainings(id,user_id,completed_on,reference,recorded_by,recorded_at,expires_at) select 'reprise-' || id,id,date(created_at),",
            "SQLite date functions",
        ),
        (
            "_accreditation",
            "up.sql",
            Tree::Postgres,
            "insert into trainings(id,user_id,completed_on,reference,recorded_by,recorded_at,expires_at) select 'reprise-' || id,id,created_at::date,",
            "PostgreSQL casts and intervals",
        ),
    ];

    /// One migration file in both trees.
    pub struct Pair {
        /// Folder name, such as `2026-11-28-000001_foundation`.
        pub migration: String,
        /// `up.sql` or `down.sql`.
        pub file: &'static str,
        pub sqlite: String,
        pub postgres: String,
    }

    /// Both trees from migrations/ on disk; fails unless they hold the same folders, each
    /// with an up.sql and a down.sql.
    pub fn load() -> Vec<Pair> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |tree: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(root.join(tree))
                .unwrap_or_else(|e| panic!("migrations/{tree}: {e}"))
                .map(|e| e.expect("entry"))
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let sqlite = names("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, names("postgres"), "the same migration folders");
        let read = |tree: &str, m: &str, f: &str| {
            let path = root.join(tree).join(m).join(f);
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        sqlite
            .iter()
            .flat_map(|m| {
                ["up.sql", "down.sql"].map(|f| Pair {
                    migration: m.clone(),
                    file: f,
                    sqlite: read("sqlite", m, f),
                    postgres: read("postgres", m, f),
                })
            })
            .collect()
    }

    /// The differences between the trees, one message per file that differs, plus any
    /// stale allowance; empty when the trees agree.
    pub fn compare(pairs: &[Pair]) -> Vec<String> {
        let mut problems = Vec::new();
        let mut subs_used = vec![false; SUBSTITUTIONS.len()];
        let mut one_sided_used = vec![false; ONE_SIDED.len()];
        for p in pairs {
            let mut side = |tree: Tree, text: &str| -> Vec<String> {
                statements(text)
                    .into_iter()
                    .map(|mut s| {
                        for (i, (t, from, to, _)) in SUBSTITUTIONS.iter().enumerate() {
                            if *t == tree && s.contains(from) {
                                s = s.replace(from, to);
                                subs_used[i] = true;
                            }
                        }
                        s
                    })
                    .filter(|s| {
                        let allowed = ONE_SIDED.iter().position(|(m, f, t, start, _)| {
                            p.migration.ends_with(m)
                                && p.file == *f
                                && *t == tree
                                && s.starts_with(start)
                        });
                        if let Some(i) = allowed {
                            one_sided_used[i] = true;
                        }
                        allowed.is_none()
                    })
                    .collect()
            };
            let a = side(Tree::Sqlite, &p.sqlite);
            let b = side(Tree::Postgres, &p.postgres);
            if a == b {
                continue;
            }
            let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let none = "(nothing)".to_string();
            problems.push(format!(
                "{}/{}: statement {} differs\n  sqlite:   {}\n  postgres: {}",
                p.migration,
                p.file,
                i + 1,
                a.get(i).unwrap_or(&none),
                b.get(i).unwrap_or(&none),
            ));
        }
        for (used, (t, from, ..)) in subs_used.iter().zip(SUBSTITUTIONS) {
            if !used {
                problems.push(format!(
                    "stale substitution for {t:?}: {from:?} never occurs"
                ));
            }
        }
        for (used, (m, f, t, start, _)) in one_sided_used.iter().zip(ONE_SIDED) {
            if !used {
                problems.push(format!(
                    "stale one-sided statement {m}/{f} ({t:?}): {start}"
                ));
            }
        }
        problems
    }

    /// The statements of a migration file, normalised: comments removed, lower case
    /// outside string literals, whitespace collapsed, none inside parentheses, before them or around commas.
    /// Semicolons inside literals, `$$` bodies and SQLite trigger bodies do not split.
    pub fn statements(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let (mut out, mut cur) = (Vec::new(), String::new());
        let (mut quote, mut dollar) = (false, false);
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            i += 1;
            if quote {
                quote = c != '\'';
                cur.push(c);
            } else if c == '$' && next == Some('$') {
                dollar = !dollar;
                cur.push_str("$$");
                i += 1;
            } else if dollar {
                cur.push(c);
            } else if c == '-' && next == Some('-') {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                cur.push(' ');
            } else if c == '\'' {
                quote = true;
                cur.push(c);
            } else if c == ';' {
                let s = normalise(&cur);
                let in_trigger_body = s.starts_with("create trigger")
                    && s.split([' ', '(', ')']).any(|w| w == "begin")
                    && !s.ends_with(" end");
                if in_trigger_body {
                    cur.push(c);
                } else {
                    if !s.is_empty() {
                        out.push(s);
                    }
                    cur.clear();
                }
            } else {
                cur.push(c);
            }
        }
        let s = normalise(&cur);
        if !s.is_empty() {
            out.push(s);
        }
        out
    }

    fn normalise(stmt: &str) -> String {
        let mut out = String::new();
        let (mut quote, mut space) = (false, false);
        for c in stmt.chars() {
            if quote {
                out.push(c);
                quote = c != '\'';
                continue;
            }
            if c.is_whitespace() {
                space = true;
                continue;
            }
            let tight_before = matches!(c, '(' | ')' | ',');
            let tight_after = out.ends_with(['(', ',']);
            if space && !out.is_empty() && !tight_before && !tight_after {
                out.push(' ');
            }
            space = false;
            quote = c == '\'';
            out.extend(c.to_lowercase());
        }
        out
    }
}
