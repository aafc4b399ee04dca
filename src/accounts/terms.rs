//! Terms of use: a versioned French text shipped with the binary, which every account
//! accepts once per version, after its second factor and before anything else
//! ([`sessions`](super::sessions) reads an account that has not accepted the current
//! version as awaiting the terms, not logged in). Each acceptance is stored with the
//! SHA-256 of the exact text shown, and journaled (`account.terms_accepted`).
//!
//! A new version is a new file `terms/cgu-<version>.md` and a new [`CURRENT`]: every
//! account then accepts again. A version's file never changes once released (a unit test
//! pins the digest): the digests in the journal can then be checked against it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::users::{self, User};
use crate::crypto::sha256_hex;
use crate::error::Error;
use crate::journal::{self, NewEntry};
use crate::store::schema::{terms_acceptances, users as users_t};
use crate::store::{write_tx, DbConn};

/// One version of the terms.
#[derive(Debug)]
pub struct Terms {
    /// Its identifier: the date it took effect, `YYYY-MM-DD`.
    pub version: &'static str,
    /// The same date in words, for the page.
    pub label: &'static str,
    /// The text: paragraphs, `## ` headings and `- ` list items (see [`blocks`]).
    pub text: &'static str,
}

/// The version in force: what accounts accept now.
pub static CURRENT: Terms = Terms {
    version: "2026-12-01",
    label: "1er décembre 2026",
    text: include_str!("../../terms/cgu-2026-12-01.md"),
};

/// The terms in force.
pub fn current() -> &'static Terms {
    &CURRENT
}

impl Terms {
    /// SHA-256 of the text, lowercase hex: recorded with each acceptance.
    pub fn digest(&self) -> String {
        sha256_hex(self.text.as_bytes())
    }

    /// The text as blocks to render.
    pub fn blocks(&self) -> Vec<Block> {
        blocks(self.text)
    }
}

/// A block of the terms' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A section heading (`## `).
    Heading(String),
    /// A paragraph (lines joined by spaces).
    Paragraph(String),
    /// Consecutive `- ` items.
    List(Vec<String>),
}

/// Reads the small subset of Markdown the terms use (pure): `## ` headings, `- ` list
/// items (a following indented line continues the item), paragraphs separated by blank
/// lines. Nothing else is markup: the text is shown as written, escaped.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, out: &mut Vec<Block>| {
        if !para.is_empty() {
            out.push(Block::Paragraph(para.join(" ")));
            para.clear();
        }
    };
    let mut in_list = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            flush(&mut para, &mut out);
            in_list = false;
        } else if let Some(h) = line.strip_prefix("## ") {
            flush(&mut para, &mut out);
            out.push(Block::Heading(h.trim().to_string()));
            in_list = false;
        } else if let Some(item) = line.strip_prefix("- ") {
            flush(&mut para, &mut out);
            match out.last_mut() {
                Some(Block::List(items)) if in_list => items.push(item.trim().to_string()),
                _ => out.push(Block::List(vec![item.trim().to_string()])),
            }
            in_list = true;
        } else if in_list && raw.starts_with(' ') {
            if let Some(Block::List(items)) = out.last_mut() {
                if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(line);
                }
            }
        } else {
            in_list = false;
            para.push(line);
        }
    }
    flush(&mut para, &mut out);
    out
}

/// An acceptance as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = terms_acceptances)]
pub struct Acceptance {
    /// The account.
    pub user_id: String,
    /// The version accepted.
    pub version: String,
    /// SHA-256 of the text accepted.
    pub digest: String,
    /// When.
    pub accepted_at: chrono::NaiveDateTime,
}

/// True when the account has accepted this version of the terms.
pub fn has_accepted(conn: &mut DbConn, user_id: &str, terms: &Terms) -> QueryResult<bool> {
    let n: i64 = terms_acceptances::table
        .filter(terms_acceptances::user_id.eq(user_id))
        .filter(terms_acceptances::version.eq(terms.version))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Every acceptance of the account, oldest first.
pub fn acceptances(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Acceptance>> {
    terms_acceptances::table
        .filter(terms_acceptances::user_id.eq(user_id))
        .order(terms_acceptances::accepted_at.asc())
        .select(Acceptance::as_select())
        .load(conn)
}

/// The refusal when the box was not ticked.
pub const NOT_TICKED: &str = "Pour continuer, cochez la case « J’ai lu et j’accepte les conditions générales d’utilisation ». Si vous ne les acceptez pas, vous ne pouvez pas utiliser Procura : déconnectez-vous et parlez-en au responsable de votre structure.";

/// What [`accept`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The acceptance is recorded and journaled.
    Recorded,
    /// This version was already accepted (a second tab, a double click): nothing written.
    Already,
}

/// The account accepts `terms`, having ticked the box (`ticked`; otherwise a refusal
/// and nothing written): the acceptance, with the text's digest, and its journal entry
/// in one transaction. An account that is unknown or no longer active is refused.
pub fn accept(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    user_id: &str,
    terms: &Terms,
    ticked: bool,
) -> Result<Accepted, Error> {
    if !ticked {
        return Err(Error::Invalid(NOT_TICKED.into()));
    }
    write_tx(conn, |c| {
        // The account's row lock: two acceptances of one account run one after the other
        // (PostgreSQL), so the second sees the first and writes nothing.
        diesel::update(users_t::table.filter(users_t::id.eq(user_id)))
            .set(users_t::failed_logins.eq(users_t::failed_logins))
            .execute(c)?;
        let user: User = users::find(c, user_id)?
            .filter(|u| u.active)
            .ok_or(Error::LoginRequired)?;
        if has_accepted(c, &user.id, terms)? {
            return Ok(Accepted::Already);
        }
        let digest = terms.digest();
        diesel::insert_into(terms_acceptances::table)
            .values((
                terms_acceptances::user_id.eq(&user.id),
                terms_acceptances::version.eq(terms.version),
                terms_acceptances::digest.eq(&digest),
                terms_acceptances::accepted_at.eq(now.naive_utc()),
            ))
            .execute(c)?;
        journal::append(
            c,
            now,
            NewEntry::new("account.terms_accepted")
                .actor(user.actor())
                .structure_opt(user.current_structure_id.as_deref())
                .detail("version", terms.version)
                .detail("digest", digest),
        )?;
        Ok(Accepted::Recorded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The released text of a version never changes: a change needs a new version (a new
    /// file and a new `CURRENT`), so that accounts accept it and old digests still check.
    #[test]
    fn the_released_text_is_pinned_by_its_digest() {
        assert_eq!(CURRENT.version, "2026-12-01");
        assert_eq!(
            CURRENT.digest(),
            "8614bc754d3db4ff7bc1ef3ce6d0382acc9d8c32e7fa06fcec62b953e3cb365f",
            "the text of terms version {} changed: release it as a new version instead",
            CURRENT.version
        );
    }

    #[test]
    fn the_text_reads_as_headings_paragraphs_and_lists() {
        let b = blocks("Intro\nsuite.\n\n## 1. Titre\n\n- un\n  suite\n- deux\n\nFin.\n");
        assert_eq!(
            b,
            vec![
                Block::Paragraph("Intro suite.".into()),
                Block::Heading("1. Titre".into()),
                Block::List(vec!["un suite".into(), "deux".into()]),
                Block::Paragraph("Fin.".into()),
            ]
        );
    }

    #[test]
    fn the_shipped_text_uses_only_the_supported_markup() {
        let b = CURRENT.blocks();
        assert!(b.iter().filter(|x| matches!(x, Block::Heading(_))).count() >= 6);
        for block in &b {
            let text = match block {
                Block::Heading(t) | Block::Paragraph(t) => t.clone(),
                Block::List(items) => items.join(" "),
            };
            for mark in ["#", "*", "`", "[", "](", "<", ">", "_"] {
                assert!(
                    !text.contains(mark),
                    "unsupported markup {mark:?} in {text:?}"
                );
            }
            assert!(
                !text.contains('\''),
                "typographic apostrophes only: {text:?}"
            );
        }
    }

    #[test]
    fn the_version_is_a_date() {
        assert!(chrono::NaiveDate::parse_from_str(CURRENT.version, "%Y-%m-%d").is_ok());
    }
}
