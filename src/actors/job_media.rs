//! A photo or a document, as a job runs it: fetched from Telegram (`getFile`, then the download), judged, and
//! turned into a turn — a document's text in a fenced block, a photo as an image part for a model that sees
//! images. What cannot be read is refused with a clear message, and nothing reaches the model then.
//!
//! A download that fails for a while (Telegram's 5xx, the network) fails the attempt, which is retried like
//! any job; one that cannot succeed ("file is too big", a file Telegram no longer has) tells the user.

use crate::actors::jobs::{JobError, JobRunner, TurnImage};
use crate::ids::{MessageId, UserId};
use crate::llm::Image;
use crate::media::cache::ImageCache;
use crate::media::documents::{self, Kind};
use crate::media::image_tokens;
use crate::queue::{Attachment, AttachmentKind, ChatRef, Lease};
use crate::telegram::files::MAX_DOWNLOAD_BYTES;
use crate::telegram::TelegramError;
use crate::texts;
use std::sync::Arc;

/// Telegram sends photos as JPEG.
const PHOTO_MIME: &str = "image/jpeg";

/// The image cache's directory, next to the database.
const IMAGE_DIR: &str = "images";

/// What came of fetching an attachment.
enum Fetched {
    Bytes(Vec<u8>),
    /// Cannot be fetched, ever: the user is told this.
    Refused(String),
}

impl JobRunner {
    /// A photo or a document (with its caption) as one turn, or a refusal saying why not.
    pub(super) async fn media_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        message_id: MessageId,
        caption: Option<&str>,
        attachment: &Attachment,
    ) -> Result<(), JobError> {
        match attachment.kind {
            AttachmentKind::Document => {
                self.document_turn(lease, chat, user, message_id, caption, attachment)
                    .await
            }
            AttachmentKind::Photo => {
                self.photo_turn(lease, chat, user, message_id, caption, attachment)
                    .await
            }
        }
    }

    async fn document_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        message_id: MessageId,
        caption: Option<&str>,
        document: &Attachment,
    ) -> Result<(), JobError> {
        let limit = self.config.media.max_document_bytes;
        let refusal = if documents::kind_of(document.name.as_deref(), document.mime.as_deref())
            == Kind::Binary
        {
            Some(texts::DOCUMENT_NOT_TEXT.to_string())
        } else if document.size.is_some_and(|size| size > MAX_DOWNLOAD_BYTES) {
            Some(texts::FILE_TOO_BIG_FOR_TELEGRAM.to_string())
        } else if document.size.is_some_and(|size| size > limit) {
            Some(texts::document_too_big(limit))
        } else {
            None
        };
        let text = match refusal {
            Some(refusal) => Err(refusal),
            None => match self.fetch(&document.file_id, limit).await? {
                Fetched::Refused(why) => Err(why),
                Fetched::Bytes(bytes) => match documents::decode(&bytes) {
                    Some(text) => Ok(text),
                    None => Err(texts::DOCUMENT_NOT_TEXT.to_string()),
                },
            },
        };
        match text {
            Ok(text) => {
                let name = document.name.as_deref().unwrap_or("file");
                let turn = documents::as_turn_text(name, &text, caption);
                self.chat_turn(lease, chat, user, vec![(message_id, turn)], Vec::new())
                    .await
            }
            Err(why) => self.refuse(lease, &chat, message_id, &why).await,
        }
    }

    async fn photo_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        message_id: MessageId,
        caption: Option<&str>,
        photo: &Attachment,
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
        let stored = texts::photo_in_history(caption);
        // A saved answer (a retry after it was written) needs no image any more.
        let images = if lease.progress.answer.is_some() {
            Vec::new()
        } else {
            let bytes = match self.photo_bytes(photo).await? {
                Fetched::Bytes(bytes) => bytes,
                Fetched::Refused(why) => return self.refuse(lease, &chat, message_id, &why).await,
            };
            let ask = caption
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .unwrap_or(texts::DESCRIBE_IMAGE)
                .to_string();
            vec![TurnImage {
                image: Image {
                    mime: PHOTO_MIME.to_string(),
                    bytes: Arc::new(bytes),
                },
                tokens: image_tokens(photo.width, photo.height),
                ask,
            }]
        };
        self.chat_turn(lease, chat, user, vec![(message_id, stored)], images)
            .await
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
        if self
            .config
            .media
            .vision_models
            .as_ref()
            .is_some_and(|v| v.allows(model))
        {
            return true;
        }
        if let Some(known) = self.catalog.known(model) {
            return known.supports_vision;
        }
        match self.catalog.models(&self.llm).await {
            Ok(models) => models.iter().any(|m| m.id == model && m.supports_vision),
            Err(e) => {
                log::warn!("cannot ask the model server which models see images: {e}");
                false
            }
        }
    }

    /// The models of `/model` that see images.
    async fn vision_models(&self) -> Vec<String> {
        let Ok(models) = self.catalog.models(&self.llm).await else {
            return Vec::new();
        };
        let vision = self.config.media.vision_models.as_ref();
        self.catalog
            .offered(&models)
            .into_iter()
            .filter(|m| m.supports_vision || vision.is_some_and(|v| v.allows(&m.id)))
            .map(|m| m.id)
            .collect()
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
