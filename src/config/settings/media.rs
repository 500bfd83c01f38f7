//! The photo and file settings: which models see images, how big a photo or a document may be, and how much
//! disk the image cache may use.

use super::parse::whole;
use super::{Fallback, Legacy, Setting};
use crate::choice::AllowedModels;

/// Models that see images besides those the server marks `supports_vision`: names or `prefix*` patterns,
/// separated by commas. Empty: only the server's word counts.
pub static VISION_MODELS: Setting<Option<AllowedModels>> = Setting {
    name: "VISION_MODELS",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |name, s| {
        AllowedModels::parse(s)
            .map(Some)
            .map_err(|e| format!("{name}: {e}."))
    },
    show: |c| {
        c.media
            .vision_models
            .as_ref()
            .map_or("(not set: the server's supports_vision)".into(), |v| {
                v.to_string()
            })
    },
};

/// The largest photo size sent to a model, in bytes (the largest of Telegram's sizes under it is taken).
/// 5 MB: OpenAI's and Anthropic's per-image limits are 20 MB and 5 MB; Telegram's largest photo size is well
/// under it.
pub static MAX_IMAGE_BYTES: Setting<u64> = Setting {
    name: "MAX_IMAGE_BYTES",
    legacy: Legacy::None,
    default: Fallback::Value(|| 5 * 1024 * 1024),
    parse: |name, s| whole(name, s, 1_024..=20 * 1024 * 1024, "bytes"),
    show: |c| c.media.max_image_bytes.to_string(),
};

/// The largest text document read into a turn, in bytes.
/// 1 MB: about 250,000 tokens, more than most models' windows; a bigger one is refused before it is downloaded.
pub static MAX_DOCUMENT_BYTES: Setting<u64> = Setting {
    name: "MAX_DOCUMENT_BYTES",
    legacy: Legacy::None,
    default: Fallback::Value(|| 1024 * 1024),
    parse: |name, s| whole(name, s, 1..=20 * 1024 * 1024, "bytes"),
    show: |c| c.media.max_document_bytes.to_string(),
};

/// Disk the image cache may use, in megabytes (under the database's directory, `images/`); 0: keep nothing
/// (every turn downloads its images again).
/// 200 MB: about a thousand photos, so images stay cached as long as their turns stay in prompts.
pub static IMAGE_CACHE_MB: Setting<u64> = Setting {
    name: "IMAGE_CACHE_MB",
    legacy: Legacy::None,
    default: Fallback::Value(|| 200),
    parse: |name, s| whole(name, s, 0..=1_000_000, "megabytes"),
    show: |c| c.media.image_cache_mb.to_string(),
};
