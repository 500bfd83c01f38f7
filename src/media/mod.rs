//! Photos and files, the parts that know nothing of Telegram's or the model server's wire: what an image costs
//! in the prompt ([`image_tokens`]), the size-capped cache of image bytes on disk ([`cache`]), and which
//! documents are text the model can read ([`documents`]). Knows nothing of actors.

pub mod cache;
pub mod documents;

use serde::{Deserialize, Serialize};

/// What a message carried besides text: a photo (the size the poller chose) or a document, named by Telegram's
/// ids (the bytes are fetched by the job, and never stored in SQLite).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: AttachmentKind,
    /// What to download it by.
    pub file_id: String,
    /// The same whatever the bot and over time: what the image cache keeps it under.
    #[serde(default)]
    pub file_unique_id: String,
    /// A document's name as the sender gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A document's declared type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// In bytes, when Telegram said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A photo's pixels (0 when unknown).
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Photo,
    Document,
}

impl AttachmentKind {
    /// As stored (`attachments.kind`) and shown (admin API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "photo" => Some(Self::Photo),
            "document" => Some(Self::Document),
            _ => None,
        }
    }
}

impl Attachment {
    /// What it costs in a prompt: a photo by the tile rule; a document nothing (its text is counted).
    pub fn tokens(&self) -> usize {
        match self.kind {
            AttachmentKind::Photo => image_tokens(self.width, self.height),
            AttachmentKind::Document => 0,
        }
    }
}

/// Tokens an image of `width`×`height` pixels costs in a prompt, by OpenAI's rule for `detail: high` (the
/// default most servers follow): scaled to fit in 2048×2048, then so its shorter side is at most 768; each
/// 512×512 tile costs 170 tokens, plus 85. Unknown dimensions count as the largest image the rule allows
/// (so the prompt budget is never exceeded by a guess).
pub fn image_tokens(width: u32, height: u32) -> usize {
    const BASE: usize = 85;
    const PER_TILE: usize = 170;
    if width == 0 || height == 0 {
        // 2048×768 after scaling: 4×2 tiles, the rule's largest.
        return BASE + PER_TILE * 8;
    }
    let (mut w, mut h) = (f64::from(width), f64::from(height));
    let fit = (2048.0 / w.max(h)).min(1.0);
    w *= fit;
    h *= fit;
    let short = (768.0 / w.min(h)).min(1.0);
    w *= short;
    h *= short;
    let tiles = (w / 512.0).ceil() * (h / 512.0).ceil();
    // At most 4×2 tiles: the product is a small whole number.
    BASE + PER_TILE * (tiles as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_costs_what_openais_tile_rule_says() {
        // OpenAI's own examples: 1024×1024 → 765 tokens; 2048×4096 → 1105; a small one → one tile.
        assert_eq!(image_tokens(1024, 1024), 765);
        assert_eq!(image_tokens(2048, 4096), 1105);
        assert_eq!(image_tokens(200, 100), 255);
        assert_eq!(image_tokens(0, 0), 85 + 170 * 8);
        assert!(image_tokens(1280, 960) <= image_tokens(0, 0));
    }
}
