//! The poller's part in photos and documents: a message that carries one becomes a `Media` job (at `default`
//! priority: its download and its image make it heavier than a text). Split from `poller.rs` (whose child
//! module this is) to keep that file short.

use super::{Decision, Rules};
use crate::ids::UserId;
use crate::queue::{Attachment, AttachmentKind, ChatRef, JobKind, Priority};
use crate::telegram::files::pick_photo;
use crate::telegram::types::Message;

/// The job for a message with a photo or a document; `None` when it carries neither.
pub(super) fn media_job(
    message: &Message,
    user: UserId,
    chat: ChatRef,
    rules: &Rules,
) -> Option<Decision> {
    let attachment = if let Some(photo) = pick_photo(&message.photo, rules.max_image_bytes) {
        Attachment {
            kind: AttachmentKind::Photo,
            file_id: photo.file_id.clone(),
            file_unique_id: photo.file_unique_id.clone(),
            name: None,
            mime: None,
            size: photo.file_size,
            width: photo.width,
            height: photo.height,
        }
    } else {
        let document = message.document.as_ref()?;
        Attachment {
            kind: AttachmentKind::Document,
            file_id: document.file_id.clone(),
            file_unique_id: document.file_unique_id.clone(),
            name: document.file_name.clone(),
            mime: document.mime_type.clone(),
            size: document.file_size,
            width: 0,
            height: 0,
        }
    };
    let label = attachment.kind.as_str();
    Some(Decision::Queue(
        Priority::Default,
        JobKind::Media {
            chat,
            user_id: user,
            message_id: message.message_id,
            caption: message.caption.clone(),
            attachment: Box::new(attachment),
            album: message.media_group_id.clone(),
        },
        label,
    ))
}
