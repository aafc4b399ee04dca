//! The mandate document as a PDF, made in the process with `pdf-writer`: A4, the standard
//! Helvetica fonts in WinAnsiEncoding (French accents, ’, « », œ, €; nothing to embed),
//! our own line wrapping, and the receipt's QR code drawn as rectangles.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::domain::attestation::Block;

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// The WinAnsiEncoding byte of a character ('?' when it has none).
fn winansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '\u{202f}' | '\u{2009}' => 0xa0,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => b'?',
    }
}

/// Helvetica's advance widths (per 1000 units of the font size) of WinAnsi bytes 32–255.
const WIDTHS: [u16; 224] = [
    // 0x20
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    // 0x30
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    // 0x40
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    // 0x50
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    // 0x60
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    // 0x70
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350,
    // 0x80
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    // 0x90
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667,
    // 0xA0
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    // 0xB0
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // 0xC0
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    // 0xD0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // 0xE0
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    // 0xF0
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// The width of `bytes` at `size`; bold Helvetica is counted 10 % wider (enough: its
/// widest letters are that much wider than the regular ones).
fn width(bytes: &[u8], size: f32, bold: bool) -> f32 {
    let units: u32 = bytes
        .iter()
        .map(|b| u32::from(WIDTHS[usize::from(b.saturating_sub(32))]))
        .sum();
    units as f32 * size / 1000.0 * if bold { 1.1 } else { 1.0 }
}

/// `text` encoded, cut into lines no wider than `max` (a word wider than a line is cut).
fn wrap(text: &str, size: f32, bold: bool, max: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut w: Vec<u8> = word.chars().map(winansi).collect();
        let mut candidate = line.clone();
        if !candidate.is_empty() {
            candidate.push(b' ');
        }
        candidate.extend_from_slice(&w);
        if width(&candidate, size, bold) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        while width(&w, size, bold) > max && w.len() > 1 {
            let mut cut = w.len() - 1;
            while cut > 1 && width(&w[..cut], size, bold) > max {
                cut -= 1;
            }
            lines.push(w[..cut].to_vec());
            w = w[cut..].to_vec();
        }
        line = w;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Pages being written: one content stream per page.
struct Writer {
    pages: Vec<Content>,
    y: f32,
}

impl Writer {
    fn new() -> Self {
        Writer {
            pages: vec![Content::new()],
            y: PAGE_H - MARGIN,
        }
    }

    fn page(&mut self) -> &mut Content {
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room for `height` more points, on a new page if needed.
    fn room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.pages.push(Content::new());
            self.y = PAGE_H - MARGIN;
        }
    }

    /// A wrapped paragraph at `x` (from the left margin), then `after` points of space.
    fn text(&mut self, text: &str, size: f32, bold: bool, x: f32, after: f32) {
        let leading = size * 1.3;
        for line in wrap(text, size, bold, TEXT_W - x) {
            self.room(leading);
            self.y -= leading;
            let y = self.y + size * 0.25;
            let font = if bold { BOLD } else { REGULAR };
            self.page()
                .begin_text()
                .set_font(font, size)
                .next_line(MARGIN + x, y)
                .show(Str(&line))
                .end_text();
        }
        self.y -= after;
    }

    /// A bullet and its wrapped text.
    fn item(&mut self, text: &str, size: f32) {
        self.room(size * 1.3);
        let y = self.y - size * 1.3 + size * 0.25;
        self.page()
            .begin_text()
            .set_font(REGULAR, size)
            .next_line(MARGIN + 4.0, y)
            .show(Str(&[0x95]))
            .end_text();
        self.text(text, size, false, 14.0, 2.0);
    }

    /// Signature blocks side by side: who signs, and a frame to sign in.
    fn signatures(&mut self, who: &[&str]) {
        if who.is_empty() {
            return;
        }
        let gap = 16.0;
        let col = (TEXT_W - gap * (who.len() as f32 - 1.0)) / who.len() as f32;
        let lines: Vec<Vec<Vec<u8>>> = who.iter().map(|w| wrap(w, 9.5, true, col)).collect();
        let label_h = lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * 12.5;
        let frame = 64.0;
        self.room(label_h + frame + 8.0);
        let top = self.y;
        for (i, block) in lines.iter().enumerate() {
            let x = MARGIN + i as f32 * (col + gap);
            let mut y = top;
            for line in block {
                y -= 12.5;
                self.page()
                    .begin_text()
                    .set_font(BOLD, 9.5)
                    .next_line(x, y + 3.0)
                    .show(Str(line))
                    .end_text();
            }
            self.page()
                .set_line_width(0.6)
                .rect(x, top - label_h - frame - 4.0, col, frame)
                .stroke();
        }
        self.y = top - label_h - frame - 12.0;
    }

    /// The receipt's QR code, `size` points wide, with its top left corner at (x, top).
    fn qr(&mut self, data: &str, x: f32, top: f32, size: f32) {
        let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else {
            return;
        };
        let n = code.width();
        let colors = code.to_colors();
        let quiet = 2.0;
        let m = size / (n as f32 + 2.0 * quiet);
        let page = self.page();
        page.set_fill_gray(0.0);
        for row in 0..n {
            let mut col = 0;
            while col < n {
                if colors[row * n + col] == qrcode::Color::Dark {
                    let start = col;
                    while col < n && colors[row * n + col] == qrcode::Color::Dark {
                        col += 1;
                    }
                    page.rect(
                        x + (quiet + start as f32) * m,
                        top - (quiet + row as f32 + 1.0) * m,
                        (col - start) as f32 * m,
                        m,
                    );
                } else {
                    col += 1;
                }
            }
        }
        page.fill_nonzero();
    }
}

/// The PDF of a v2 document: its blocks, then the proof in a small footer (lines of text
/// beside the QR code of `qr_data`, none when it is empty).
pub fn document(title: &str, blocks: &[Block], proof: &[String], qr_data: &str) -> Vec<u8> {
    let mut w = Writer::new();
    let mut i = 0;
    while i < blocks.len() {
        match &blocks[i] {
            Block::Title(t) => w.text(t, 14.0, true, 0.0, 4.0),
            Block::Subtitle(t) => w.text(t, 8.5, false, 0.0, 6.0),
            Block::Heading(t) => {
                // A heading is not left alone at the bottom of a page.
                w.room(40.0);
                w.y -= 4.0;
                w.text(t, 10.5, true, 0.0, 1.0);
            }
            Block::Para(t) => w.text(t, 9.5, false, 0.0, 3.0),
            Block::Item(t) => w.item(t, 9.5),
            Block::Place(t) => {
                // "Fait à … le …" stays on the page of the signatures that follow it.
                w.room(130.0);
                w.y -= 8.0;
                w.text(t, 9.5, false, 0.0, 6.0);
            }
            Block::Signature(_) => {
                let mut who = Vec::new();
                while let Some(Block::Signature(s)) = blocks.get(i) {
                    who.push(s.as_str());
                    i += 1;
                }
                w.signatures(&who);
                continue;
            }
        }
        i += 1;
    }
    // The proof: a rule, the QR code and small lines beside it.
    let qr_size: f32 = if qr_data.is_empty() { 0.0 } else { 62.0 };
    let text_h = proof.len() as f32 * 9.5 * 2.0;
    w.room(qr_size.max(text_h) + 14.0);
    w.y -= 6.0;
    let top = w.y;
    w.page()
        .set_line_width(0.4)
        .move_to(MARGIN, top)
        .line_to(PAGE_W - MARGIN, top)
        .stroke();
    if !qr_data.is_empty() {
        w.qr(qr_data, MARGIN, top - 4.0, qr_size);
    }
    let x = qr_size + if qr_size > 0.0 { 10.0 } else { 0.0 };
    w.y = top - 4.0;
    for line in proof {
        w.text(line, 7.0, false, x, 0.5);
    }
    // Each page says which page of how many it is (a two-page copy stays together).
    let n = w.pages.len();
    for (i, page) in w.pages.iter_mut().enumerate() {
        let label: Vec<u8> = format!("{title} – page {} / {n}", i + 1)
            .chars()
            .map(winansi)
            .collect();
        let x = PAGE_W - MARGIN - width(&label, 7.0, false);
        page.begin_text()
            .set_font(REGULAR, 7.0)
            .next_line(x, MARGIN / 2.0)
            .show(Str(&label))
            .end_text();
    }
    write(title, w.pages)
}

/// The file: catalogue, page tree, the two fonts and each page with its content.
fn write(title: &str, pages: Vec<Content>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first = 6;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("Procura"));
    for (font, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (content, id) in pages.into_iter().zip(&page_ids) {
        let content_id = Ref::new(id.get() + 1);
        let mut page = pdf.page(*id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_characters_have_their_winansi_bytes() {
        let bytes: Vec<u8> = "é’«»œ€ç—".chars().map(winansi).collect();
        assert_eq!(bytes, vec![0xe9, 0x92, 0xab, 0xbb, 0x9c, 0x80, 0xe7, 0x97]);
        assert_eq!(winansi('ł'), b'?');
    }

    #[test]
    fn lines_are_wrapped_within_the_width() {
        let text = "Je déclare ne faire l’objet d’aucune mesure de protection juridique ".repeat(8);
        let lines = wrap(&text, 10.0, false, 200.0);
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|l| width(l, 10.0, false) <= 200.0));
        let long = wrap(&"x".repeat(300), 10.0, false, 100.0);
        assert!(long.len() > 1 && long.iter().all(|l| width(l, 10.0, false) <= 100.0));
    }

    #[test]
    fn a_document_is_a_pdf() {
        let blocks = vec![
            Block::Title("MANDAT".into()),
            Block::Para("Texte.".into()),
            Block::Signature("A".into()),
            Block::Signature("B".into()),
        ];
        let pdf = document("t", &blocks, &["Preuve".into()], "https://x/verifier");
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(9).any(|w| w == b"Helvetica"));
    }
}
