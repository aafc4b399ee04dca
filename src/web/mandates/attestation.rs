//! The attestation of a mandate (docs/attestation.md): the page (a readable document for
//! `procura-attestation-v2`, the text as it always was for v1), its canonical text
//! (`?format=texte`), its PDF (`/mandats/{id}/attestation.pdf`), and a translation beside
//! it (`?langue=en|es|pt|ar`, display only). Reading them journals nothing, as before.

use super::*;
use crate::domain::attestation::Block;
use crate::i18n::{self, Choice};
use crate::mandates::AttestationDocument;

/// Everything the page, the text and the PDF need, read once.
struct Loaded {
    view: MandateView,
    doc: AttestationDocument,
    receipt: Option<crate::journal::receipt::Receipt>,
    verify_url: String,
}

async fn load(ctx: &Ctx, state: &web::Data<AppState>, id: String) -> Result<Loaded, WebError> {
    let (_, structure) = ctx.require_any(&ACTORS)?;
    let sid = structure.id.clone();
    let (view, doc) = state
        .run(move |conn, env| {
            let view = mandates::mandate_in(conn, env.now, &sid, &id)?.ok_or(Error::NotFound)?;
            let doc = mandates::attestation_document(conn, &view)?;
            Ok((view, doc))
        })
        .await?;
    // The receipt of the digest recorded at creation (what the paper copy carries).
    let (seq, recorded) = (
        view.mandate.journal_seq,
        view.mandate.attestation_digest.clone(),
    );
    let receipt = match seq {
        Some(seq) => Some(
            state
                .run(move |db, _| Ok(crate::journal::receipt::check(db, seq, &recorded)?))
                .await?,
        ),
        None => None,
    };
    // No entry (a mandate older than the journal's seq on mandates): nothing to check.
    let verify_url = seq
        .map(|s| {
            crate::web::verifier::url(
                &state.settings.public_url,
                s,
                &view.mandate.attestation_digest,
            )
        })
        .unwrap_or_default();
    Ok(Loaded {
        view,
        doc,
        receipt,
        verify_url,
    })
}

/// What a query asks: the page's language and format (`texte` for the canonical text).
fn parse(query: &str) -> Result<(Choice, bool), WebError> {
    let mut text = false;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            ("langue", _) => {}
            ("format", "texte") => text = true,
            ("format", "" | "html") => {}
            ("format", _) => {
                return Err(WebError::BadRequest(
                    "Le paramètre format vaut « texte » (le texte canonique de l’attestation) ou est absent (la page)."
                        .into(),
                ))
            }
            _ => {}
        }
    }
    Ok((Choice::from_query(query), text))
}

/// The translation shown beside the attestation.
fn translation(l: &Loaded, lang: i18n::Lang) -> i18n::Translation {
    let demarches: Vec<&'static Demarche> = l
        .view
        .authorisations
        .iter()
        .filter_map(|(a, _)| rules::demarche(&a.demarche))
        .collect();
    let name = format!("{} {}", l.view.usager.given_name, l.view.usager.family_name);
    i18n::attestation(
        lang,
        &i18n::AttestationFacts {
            name: &name,
            birthdate: &l.view.usager.birthdate,
            structure: &l.doc.structure.name,
            siret: &l.doc.structure.siret,
            aidant: &l.view.aidant_name,
            demarches: &demarches,
            start: l.view.mandate.created_at,
            end: l.view.mandate.expires_at,
        },
    )
}

/// The proof's lines, for the page's footer and the PDF.
fn proof_lines(l: &Loaded, moi_url: &str) -> Vec<String> {
    let m = &l.view.mandate;
    let mut out = vec![match m.journal_seq {
        Some(seq) => format!(
            "Preuve : entrée n° {seq} du journal de Procura, modèle {}.",
            l.doc.version
        ),
        None => format!("Modèle {} (sans entrée au journal).", l.doc.version),
    }];
    out.push(format!(
        "Empreinte SHA-256 du texte canonique : {}",
        m.attestation_digest
    ));
    if !l.verify_url.is_empty() {
        out.push(format!("Vérification : {}", l.verify_url));
    }
    out.push(format!(
        "Espace personnel de la personne (avec FranceConnect) : {moi_url}"
    ));
    out
}

#[derive(Template)]
#[template(path = "attestation.html")]
struct AttestationPage {
    layout: Layout,
    m: MandateBlock,
    usager_id: String,
    text: String,
    blocks: Vec<Block>,
    digest: String,
    recorded: String,
    matches: bool,
    seq: i64,
    version: String,
    receipt: Option<crate::journal::receipt::Receipt>,
    verify_url: String,
    qr_svg: String,
    checkpoint_seconds: u32,
    flash: Option<String>,
    langs: Vec<i18n::LangLink>,
    langue: &'static str,
    notice: Option<String>,
    translation: Option<i18n::Translation>,
    moi_url: String,
}

impl AttestationPage {
    /// The signature blocks (shown side by side at the end).
    fn signatures(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Signature(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// `/mandats/{id}/attestation`.
pub(super) async fn page(
    req: HttpRequest,
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let (choice, as_text) = parse(req.query_string())?;
    let l = load(&ctx, &state, path.into_inner()).await?;
    if as_text {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(l.doc.text.clone()));
    }
    let digest = crate::crypto::sha256_hex(l.doc.text.as_bytes());
    let moi_url = state.settings.url("/moi");
    let page = render(&AttestationPage {
        flash: ctx.flash(),
        qr_svg: crate::web::verifier::qr_svg(&l.verify_url),
        checkpoint_seconds: state.settings.checkpoint_seconds,
        layout: ctx.layout(&state),
        m: block(&l.view),
        usager_id: l.view.usager.id.clone(),
        matches: digest == l.view.mandate.attestation_digest,
        recorded: l.view.mandate.attestation_digest.clone(),
        digest,
        seq: l.view.mandate.journal_seq.unwrap_or_default(),
        version: l.doc.version.clone(),
        langs: i18n::links(&choice),
        langue: choice.code(),
        notice: choice.notice(),
        translation: choice.lang().map(|lang| translation(&l, lang)),
        text: l.doc.text.clone(),
        blocks: l.doc.blocks.clone(),
        moi_url,
        receipt: l.receipt,
        verify_url: l.verify_url,
    });
    Ok(ctx.finish(&state, page))
}

/// `/mandats/{id}/attestation.pdf`: the same document (French), with the proof.
pub(super) async fn pdf(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let l = load(&ctx, &state, path.into_inner()).await?;
    let blocks = if l.doc.blocks.is_empty() {
        // A v1 attestation: its text, line by line.
        l.doc
            .text
            .lines()
            .map(|line| Block::Para(line.to_string()))
            .collect()
    } else {
        l.doc.blocks.clone()
    };
    let proof = proof_lines(&l, &state.settings.url("/moi"));
    let title = format!(
        "Mandat de {} {}",
        l.view.usager.given_name, l.view.usager.family_name
    );
    let verify_url = l.verify_url.clone();
    let bytes = blocking(move || pdf::document(&title, &blocks, &proof, &verify_url)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"mandat-{}.pdf\"", l.view.mandate.id),
        ))
        .body(bytes))
}
