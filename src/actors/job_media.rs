//! A photo or a document, as a job runs it: fetched from Telegram (`getFile`, then the download), judged, and
//! turned into a turn — a document's text in a fenced block, a photo as an image part for a model that sees
//! images. What cannot be read is refused with a clear message, and nothing reaches the model then. An album
//! (its items merged into one job) is one turn. The turn's message records what it carried (`attachments`);
//! a photo stays in the conversation: later turns show it again ([`JobRunner::show_photos`]) from the image
//! cache, or fetched again by its `file_id`, while its message is in the prompt.
//!
//! A download that fails for a while (Telegram's 5xx, the network) fails the attempt, which is retried like
//! any job; one that cannot succeed ("file is too big", a file Telegram no longer has) tells the user.

use crate::actors::job_groups::of_old_group;
use crate::actors::jobs::{JobError, JobRunner};
use crate::context::TurnContext;
use crate::ids::{MessageId, UserId};
use crate::llm::Image;
use crate::media::cache::ImageCache;
use crate::media::documents::{self, Kind};
use crate::queue::{Attachment, AttachmentKind, ChatRef, Job, JobKind, Lease};
use crate::telegram::files::MAX_DOWNLOAD_BYTES;
use crate::telegram::TelegramError;
use crate::texts;
use std::sync::Arc;

/// Telegram sends photos as JPEG.
const PHOTO_MIME: &str = "image/jpeg";

/// The image cache's directory, next to the database.
const IMAGE_DIR: &str = "images";

/// What a turn's first message carried besides its text, for `chat_turn`: recorded with the message; the
/// photos' bytes this attempt already fetched (by `file_unique_id`), so they are not fetched twice.
#[derive(Debug, Default)]
pub struct TurnMedia {
    pub attachments: Vec<Attachment>,
    pub caption: Option<String>,
    pub fetched: Vec<(String, Arc<Vec<u8>>)>,
}

/// One item of a media turn: an attachment and its message's caption.
struct MediaItem {
    attachment: Attachment,
    caption: Option<String>,
}

impl MediaItem {
    /// The item a `Media` job carries (`None` for any other job).
    fn of(job: &Job) -> Option<Self> {
        match &job.kind {
            JobKind::Media {
                attachment,
                caption,
                ..
            } => Some(Self {
                attachment: (**attachment).clone(),
                caption: caption.clone(),
            }),
            _ => None,
        }
    }
}

/// What came of fetching an attachment.
enum Fetched {
    Bytes(Vec<u8>),
    /// Cannot be fetched, ever: the user is told this.
    Refused(String),
}

impl JobRunner {
    /// A `Media` job: its item and the album's other items merged into it as it was taken, as one turn.
    pub(super) async fn media_job(&self, lease: &Lease) -> Result<(), JobError> {
        let JobKind::Media {
            chat,
            user_id,
            message_id,
            ..
        } = &lease.job.kind
        else {
            return Ok(());
        };
        let items = std::iter::once(&lease.job)
            .chain(&lease.progress.merged)
            .filter_map(MediaItem::of)
            .collect();
        let (chat, moved) = self.current_chat(chat).await?;
        let message_id = if moved {
            of_old_group(*message_id)
        } else {
            *message_id
        };
        self.media_turn(lease, chat, *user_id, message_id, items)
            .await
    }

    /// A photo, an album or a document (with the caption) as one turn, or a refusal saying why not.
    async fn media_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        message_id: MessageId,
        items: Vec<MediaItem>,
    ) -> Result<(), JobError> {
        // An album has one caption, on whichever item the sender wrote it.
        let caption = items
            .iter()
            .filter_map(|i| i.caption.as_deref())
            .find(|c| !c.trim().is_empty())
            .map(str::to_string);
        let (photos, documents): (Vec<Attachment>, Vec<Attachment>) = items
            .into_iter()
            .map(|i| i.attachment)
            .partition(|a| a.kind == AttachmentKind::Photo);
        if photos.is_empty() {
            self.document_turn(lease, chat, user, message_id, caption, documents)
                .await
        } else {
            self.photo_turn(lease, chat, user, message_id, caption, photos)
                .await
        }
    }

    /// Text files, each as a fenced block (the caption after the last), or the first refusal.
    async fn document_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        message_id: MessageId,
        caption: Option<String>,
        documents: Vec<Attachment>,
    ) -> Result<(), JobError> {
        let mut blocks = Vec::with_capacity(documents.len());
        for (i, document) in documents.iter().enumerate() {
            match self.read_document(document).await? {
                Ok(text) => {
                    let name = document.name.as_deref().unwrap_or("file");
                    // The caption goes after the last file.
                    let last = (i + 1 == documents.len()).then_some(caption.as_deref());
                    blocks.push(documents::as_turn_text(name, &text, last.flatten()));
                }
                Err(why) => return self.refuse(lease, &chat, message_id, &why).await,
            }
        }
        let turn = blocks.join("\n\n");
        let media = TurnMedia {
            attachments: documents,
            caption,
            fetched: Vec::new(),
        };
        self.chat_turn(lease, chat, user, vec![(message_id, turn)], media)
            .await
    }

    /// A document's text, or why it cannot be read (told to the user).
    async fn read_document(
        &self,
        document: &Attachment,
    ) -> Result<Result<String, String>, JobError> {
        let limit = self.config.media.max_document_bytes;
        if documents::kind_of(document.name.as_deref(), document.mime.as_deref()) == Kind::Binary {
            return Ok(Err(texts::DOCUMENT_NOT_TEXT.to_string()));
        }
        if document.size.is_some_and(|size| size > MAX_DOWNLOAD_BYTES) {
            return Ok(Err(texts::FILE_TOO_BIG_FOR_TELEGRAM.to_string()));
        }
        if document.size.is_some_and(|size| size > limit) {
            return Ok(Err(texts::document_too_big(limit)));
        }
        Ok(match self.fetch(&document.file_id, limit).await? {
            Fetched::Refused(why) => Err(why),
            Fetched::Bytes(bytes) => {
                documents::decode(&bytes).ok_or_else(|| texts::DOCUMENT_NOT_TEXT.to_string())
            }
        })
    }

    /// Photos (one, or an album's) for the conversation's model, if it sees images; else a refusal naming
    /// the models that do, and nothing is fetched or asked.
    async fn photo_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        message_id: MessageId,
        caption: Option<String>,
        photos: Vec<Attachment>,
    ) -> Result<(), JobError> {
        let model = self.model_of(chat.conversation()).await?;
        if !self.sees_images(&model).await {
            log::info!(
                "chat {}: a photo for {model}, which sees no images; the model is not asked",
                chat.id
            );
            let can = self.vision_models().await;
            return self
                .refuse(lease, &chat, message_id, &texts::no_vision(&model, &can))
                .await;
        }
        let stored = texts::photos_in_history(photos.len(), caption.as_deref());
        let mut fetched = Vec::with_capacity(photos.len());
        // A saved answer (a retry after it was written) needs no image any more.
        if lease.progress.answer.is_none() {
            for photo in &photos {
                match self.photo_bytes(photo).await? {
                    Fetched::Bytes(bytes) => {
                        fetched.push((photo.file_unique_id.clone(), Arc::new(bytes)));
                    }
                    Fetched::Refused(why) => {
                        return self.refuse(lease, &chat, message_id, &why).await
                    }
                }
            }
        }
        let media = TurnMedia {
            attachments: photos,
            caption,
            fetched,
        };
        self.chat_turn(lease, chat, user, vec![(message_id, stored)], media)
            .await
    }

    /// Puts the prompt's photos back in front of a model that sees images: each photo message gets its
    /// images (this attempt's own bytes, else the cache's, else fetched again) and its caption (or a request to
    /// describe them) in place of its `[photo: …]` text. A model without vision keeps the text. A photo
    /// Telegram no longer offers stays text; a transient failure fails the attempt (it is retried).
    pub(super) async fn show_photos(
        &self,
        model: &str,
        context: &mut TurnContext,
        fetched: &[(String, Arc<Vec<u8>>)],
    ) -> Result<(), JobError> {
        if context.photos.is_empty() || !self.sees_images(model).await {
            return Ok(());
        }
        for shown in &context.photos {
            let mut images = Vec::with_capacity(shown.photos.len());
            for photo in &shown.photos {
                let own = fetched.iter().find(|(id, _)| *id == photo.file_unique_id);
                let bytes = match own {
                    Some((_, bytes)) => bytes.clone(),
                    None => match self.photo_bytes(photo).await? {
                        Fetched::Bytes(bytes) => Arc::new(bytes),
                        Fetched::Refused(_) => {
                            log::info!(
                                "a photo of an earlier turn cannot be fetched again; it stays text"
                            );
                            continue;
                        }
                    },
                };
                images.push(Image {
                    mime: PHOTO_MIME.to_string(),
                    bytes,
                });
            }
            if let (false, Some(message)) = (images.is_empty(), context.prompt.get_mut(shown.index))
            {
                message.content = texts::ask_of_photos(images.len(), shown.caption.as_deref());
                message.images = images;
            }
        }
        Ok(())
    }

    /// A photo's bytes: from the image cache, else from Telegram (and then kept in the cache).
    async fn photo_bytes(&self, photo: &Attachment) -> Result<Fetched, JobError> {
        let cache = self.image_cache();
        let key = photo.file_unique_id.clone();
        let cached = {
            let (cache, key) = (cache.clone(), key.clone());
            actix_rt::task::spawn_blocking(move || cache.get(&key))
                .await
                .ok()
                .flatten()
        };
        if let Some(bytes) = cached {
            return Ok(Fetched::Bytes(bytes));
        }
        let fetched = self
            .fetch(&photo.file_id, self.config.media.max_image_bytes)
            .await?;
        if let Fetched::Bytes(bytes) = &fetched {
            let copy = bytes.clone();
            let kept = actix_rt::task::spawn_blocking(move || cache.put(&key, &copy)).await;
            if let Ok(Err(e)) = kept {
                log::warn!("cannot keep a photo in the image cache: {e}");
            }
        }
        Ok(fetched)
    }

    /// `getFile`, then the download of at most `limit` bytes. Transient failures are errors (the job is
    /// retried); permanent ones are a refusal to tell the user.
    async fn fetch(&self, file_id: &str, limit: u64) -> Result<Fetched, JobError> {
        let result = async {
            let file = self.api.get_file(file_id).await?;
            let Some(path) = file.file_path else {
                return Ok(None);
            };
            self.api.download(&path, limit).await.map(Some)
        }
        .await;
        match result {
            Ok(Some(bytes)) => Ok(Fetched::Bytes(bytes)),
            Ok(None) => Ok(Fetched::Refused(texts::FILE_UNAVAILABLE.to_string())),
            Err(TelegramError::FileTooBig { method, .. }) => {
                Ok(Fetched::Refused(if method == "getFile" {
                    texts::FILE_TOO_BIG_FOR_TELEGRAM.to_string()
                } else {
                    texts::document_too_big(limit)
                }))
            }
            Err(e) if e.is_transient() => Err(e.into()),
            Err(e) => {
                log::warn!("cannot download a file from Telegram: {e}");
                Ok(Fetched::Refused(texts::FILE_UNAVAILABLE.to_string()))
            }
        }
    }

    /// Whether `model` sees images: listed in `VISION_MODELS`, or marked `supports_vision` by the server (its
    /// last list, asked again if it does not know the model).
    async fn sees_images(&self, model: &str) -> bool {
        if self.has_vision(model, false) {
            return true;
        }
        let marked = match self.catalog.supports_vision(model) {
            Some(marked) => marked,
            None => match self.catalog.models(&self.llm).await {
                Ok(models) => models.iter().any(|m| m.id == model && m.supports_vision),
                Err(e) => {
                    log::warn!("cannot ask the model server which models see images: {e}");
                    false
                }
            },
        };
        self.has_vision(model, marked)
    }

    /// The models of `/model` that see images.
    async fn vision_models(&self) -> Vec<String> {
        let Ok(models) = self.catalog.models(&self.llm).await else {
            return Vec::new();
        };
        self.catalog
            .offered(&models)
            .into_iter()
            .filter(|m| self.has_vision(&m.id, m.supports_vision))
            .map(|m| m.id)
            .collect()
    }

    /// The one rule for which models see images: the server marks the model `supports_vision`
    /// (`marked`), or `VISION_MODELS` lists it.
    fn has_vision(&self, model: &str, marked: bool) -> bool {
        marked
            || self
                .config
                .media
                .vision_models
                .as_ref()
                .is_some_and(|v| v.allows(model))
    }

    fn image_cache(&self) -> ImageCache {
        let dir = self
            .config
            .database_path
            .parent()
            .map_or_else(|| IMAGE_DIR.into(), |p| p.join(IMAGE_DIR));
        ImageCache::new(
            dir,
            self.config.media.image_cache_mb.saturating_mul(1024 * 1024),
        )
    }

    /// Tells the user why their file is not read (a reply to it), and ends the job.
    async fn refuse(
        &self,
        lease: &Lease,
        chat: &ChatRef,
        message_id: MessageId,
        why: &str,
    ) -> Result<(), JobError> {
        let mut delivery = self.delivery(lease, chat.conversation(), Some(message_id));
        delivery.finish_plain(why).await?;
        Ok(())
    }
}
