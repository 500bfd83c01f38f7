//! What a job does for `/model` and `/role`: the server's models and roles as keyboards, a typed choice, and
//! the taps on those keyboards (a choice, or turning a page). Every tap is answered (`answerCallbackQuery`),
//! so the client stops its spinner; a tap runs in the chat's order, so a switch never races the answer in
//! flight (that one finishes with the model it started with).

use crate::actors::jobs::{JobError, JobRunner};
use crate::actors::session_manager::{GetSettings, SetModel, SetRole};
use crate::catalog::CATALOG_TIMEOUT;
use crate::choice::{closest, decode, model_keyboard, page_of, role_keyboard, Callback};
use crate::ids::MessageId;
use crate::llm::catalog::{CatalogError, Model, Role};
use crate::queue::{ChatRef, Lease};
use crate::telegram::callbacks::{AnswerCallbackQuery, CallbackQueryId};
use crate::telegram::delivery::{
    edit_keyboard_paced, edit_markup_paced, plain_message, send_keyboard_paced,
};
use crate::telegram::keyboard::InlineKeyboardMarkup;
use crate::telegram::types::EditMessageText;
use crate::telegram::TelegramError;
use crate::texts;

/// What a keyboard message becomes after a tap.
enum Outcome {
    /// Its text says what was chosen; the keyboard goes.
    Chosen(String),
    /// Another page of the same keyboard.
    Page(InlineKeyboardMarkup),
    /// Nothing changes; the tap's answer says why.
    Unchanged,
}

impl JobRunner {
    /// `/model` (the keyboard) or `/model NAME` (a switch).
    pub(super) async fn model_command(
        &self,
        lease: &Lease,
        chat: &ChatRef,
        message_id: MessageId,
        choice: Option<&str>,
    ) -> Result<(), JobError> {
        let conversation = chat.conversation();
        let offered = match self.offered_models().await {
            Ok(offered) => offered,
            Err(text) => {
                return self
                    .reply(lease, conversation, Some(message_id), text)
                    .await
            }
        };
        let default = self.catalog.default_model();
        let text = match (choice, offered.is_empty()) {
            (_, true) => texts::no_models(default),
            (None, false) => {
                let current = self.model_of(conversation).await?;
                let current = current.as_str();
                let page = offered
                    .iter()
                    .position(|m| m.id == current)
                    .map_or(0, page_of);
                let keyboard = model_keyboard(&offered, current, page);
                let menu = texts::model_menu(current);
                return self
                    .send_keyboard(lease, chat, message_id, &menu, &keyboard)
                    .await;
            }
            (Some(name), false) => match find_model(&offered, name) {
                Some(model) => {
                    let model = model.id.clone();
                    self.switch_model(chat, &model).await?;
                    texts::model_switched(&model)
                }
                None => {
                    let ids: Vec<&str> = offered.iter().map(|m| m.id.as_str()).collect();
                    texts::model_unknown(name, &closest(name, &ids))
                }
            },
        };
        self.reply(lease, conversation, Some(message_id), &text)
            .await
    }

    /// `/role` (the keyboard), `/role NAME` (take it) or `/role off`.
    pub(super) async fn role_command(
        &self,
        lease: &Lease,
        chat: &ChatRef,
        message_id: MessageId,
        choice: Option<&str>,
    ) -> Result<(), JobError> {
        let conversation = chat.conversation();
        if choice.is_some_and(|c| c.eq_ignore_ascii_case("off")) {
            self.take_role(chat, None).await?;
            return self
                .reply(lease, conversation, Some(message_id), texts::ROLE_CLEARED)
                .await;
        }
        let roles = match self.roles().await {
            Ok(roles) if !roles.is_empty() => roles,
            Ok(_) => {
                return self
                    .reply(
                        lease,
                        conversation,
                        Some(message_id),
                        texts::ROLES_UNAVAILABLE,
                    )
                    .await
            }
            Err(text) => {
                return self
                    .reply(lease, conversation, Some(message_id), text)
                    .await
            }
        };
        let text = match choice {
            None => {
                let settings = self.sessions.send(GetSettings { conversation }).await??;
                let current = settings.role.as_deref();
                let page = roles
                    .iter()
                    .position(|r| Some(r.name.as_str()) == current)
                    .map_or(0, page_of);
                let keyboard = role_keyboard(&roles, current, page, texts::ROLE_OFF_LABEL);
                let menu = texts::role_menu(current);
                return self
                    .send_keyboard(lease, chat, message_id, &menu, &keyboard)
                    .await;
            }
            Some(name) => match roles.iter().find(|r| r.name.eq_ignore_ascii_case(name)) {
                Some(role) => self.take_role(chat, Some(role)).await?,
                None => {
                    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
                    texts::role_unknown(name, &closest(name, &names))
                }
            },
        };
        self.reply(lease, conversation, Some(message_id), &text)
            .await
    }

    /// A tap on one of the bot's keyboards: the choice made (or the page turned) and the tap answered.
    pub(super) async fn tap(
        &self,
        chat: &ChatRef,
        query_id: &str,
        message_id: MessageId,
        data: &str,
    ) -> Result<(), JobError> {
        let conversation = chat.conversation();
        let stale = || (Outcome::Unchanged, Some(texts::STALE_CHOICE.to_string()));
        let failed = |text: &str| (Outcome::Unchanged, Some(text.to_string()));
        let (outcome, answer) = match decode(data) {
            Callback::ModelPage(page) => match self.offered_models().await {
                Ok(offered) => {
                    let current = self.model_of(conversation).await?;
                    (
                        Outcome::Page(model_keyboard(&offered, &current, page)),
                        None,
                    )
                }
                Err(text) => failed(text),
            },
            Callback::Model(key) => match self.offered_models().await {
                Ok(offered) => match key.find(&offered, |m| m.id.as_str()) {
                    Some(model) => {
                        let model = model.id.clone();
                        self.switch_model(chat, &model).await?;
                        let text = texts::model_switched(&model);
                        (Outcome::Chosen(text.clone()), Some(text))
                    }
                    None => stale(),
                },
                Err(text) => failed(text),
            },
            Callback::RolePage(page) => match self.roles().await {
                Ok(roles) => {
                    let settings = self.sessions.send(GetSettings { conversation }).await??;
                    let current = settings.role.as_deref();
                    let keyboard = role_keyboard(&roles, current, page, texts::ROLE_OFF_LABEL);
                    (Outcome::Page(keyboard), None)
                }
                Err(text) => failed(text),
            },
            Callback::Role(key) => match self.roles().await {
                Ok(roles) => match key.find(&roles, |r| r.name.as_str()) {
                    Some(role) => {
                        let text = self.take_role(chat, Some(role)).await?;
                        (Outcome::Chosen(text.clone()), Some(text))
                    }
                    None => stale(),
                },
                Err(text) => failed(text),
            },
            Callback::RoleOff => {
                let text = self.take_role(chat, None).await?;
                (Outcome::Chosen(text.clone()), Some(text))
            }
            Callback::Unknown => stale(),
        };
        self.show_outcome(chat, message_id, outcome).await;
        self.answer_tap(query_id, answer).await;
        Ok(())
    }

    /// A tap by someone who may not use the bot: told so, nothing changes.
    pub(super) async fn refuse_tap(&self, query_id: &str) -> Result<(), JobError> {
        self.answer_tap(query_id, Some(texts::TAP_ACCESS_DENIED.to_string()))
            .await;
        Ok(())
    }

    /// The chat models the server offers that may be chosen, or what to tell the user when the list cannot
    /// be had.
    async fn offered_models(&self) -> Result<Vec<Model>, &'static str> {
        match self.catalog.models(&self.llm).await {
            Ok(models) => Ok(self.catalog.offered(&models)),
            Err(e) => {
                log::warn!("cannot list the model server's models: {e}");
                Err(texts::CATALOG_UNAVAILABLE)
            }
        }
    }

    /// The server's roles (empty when it has none, or no `/v1/roles`), or what to tell the user when the list
    /// cannot be had.
    async fn roles(&self) -> Result<Vec<Role>, &'static str> {
        match self.llm.list_roles(CATALOG_TIMEOUT).await {
            Ok(roles) => Ok(roles),
            Err(CatalogError::RolesUnavailable) => Ok(Vec::new()),
            Err(e) => {
                log::warn!("cannot list the model server's roles: {e}");
                Err(texts::CATALOG_UNAVAILABLE)
            }
        }
    }

    async fn switch_model(&self, chat: &ChatRef, model: &str) -> Result<(), JobError> {
        log::info!("chat {}: model switched to {model}", chat.conversation());
        let chat = chat.clone();
        let model = Some(model.to_string());
        Ok(self.sessions.send(SetModel { chat, model }).await??)
    }

    /// Takes `role` (its prompt, and its model when that is one the chat may use), or none; returns what to
    /// tell the user.
    async fn take_role(&self, chat: &ChatRef, role: Option<&Role>) -> Result<String, JobError> {
        let model = match role.and_then(|r| r.model.as_deref()) {
            Some(wanted) => self
                .offered_models()
                .await
                .ok()
                .and_then(|offered| offered.into_iter().find(|m| m.id == wanted))
                .map(|m| m.id),
            None => None,
        };
        let text = match role {
            Some(role) => texts::role_set(&role.name, model.as_deref()),
            None => texts::ROLE_CLEARED.to_string(),
        };
        log::info!(
            "chat {}: role {}",
            chat.conversation(),
            role.map_or("removed", |r| r.name.as_str())
        );
        let set = SetRole {
            chat: chat.clone(),
            role: role.map(|r| (r.name.clone(), r.prompt.clone())),
            model,
        };
        self.sessions.send(set).await??;
        Ok(text)
    }

    /// Sends a menu with its keyboard, once: a retried job that sent it already sends nothing.
    async fn send_keyboard(
        &self,
        lease: &Lease,
        chat: &ChatRef,
        reply_to: MessageId,
        text: &str,
        keyboard: &InlineKeyboardMarkup,
    ) -> Result<(), JobError> {
        if !lease.progress.delivered().is_empty() {
            return Ok(());
        }
        let message = plain_message(chat.conversation(), text, Some(reply_to));
        let sent = send_keyboard_paced(&self.api, &self.pacer, &message, keyboard).await?;
        if let Err(e) = self.queue.record_part(lease, 0, sent.message_id).await {
            log::warn!("job {}: could not record the menu it sent: {e}", lease.id);
        }
        Ok(())
    }

    /// Makes the keyboard message show the tap's outcome. Only a courtesy: a message deleted meanwhile, or a
    /// refusal, costs nothing but a log line.
    async fn show_outcome(&self, chat: &ChatRef, message_id: MessageId, outcome: Outcome) {
        let result = match outcome {
            Outcome::Unchanged => return,
            Outcome::Page(keyboard) => {
                edit_markup_paced(&self.api, &self.pacer, chat.id, message_id, &keyboard).await
            }
            Outcome::Chosen(text) => {
                let edit = EditMessageText {
                    chat_id: chat.id,
                    message_id,
                    text,
                    parse_mode: None,
                };
                edit_keyboard_paced(&self.api, &self.pacer, &edit, None).await
            }
        };
        if let Err(e) = result {
            log::info!(
                "chat {}: the keyboard message could not be updated: {e}",
                chat.id
            );
        }
    }

    /// Answers a tap (the client stops its spinner, and shows `text` briefly). A tap answered too late (the
    /// chat's answer in flight took long) is only logged: the keyboard message says what happened.
    async fn answer_tap(&self, query_id: &str, text: Option<String>) {
        let answer = AnswerCallbackQuery {
            callback_query_id: CallbackQueryId(query_id.to_string()),
            text,
            show_alert: false,
        };
        match self.api.answer_callback_query(&answer).await {
            Ok(()) => {}
            Err(e @ TelegramError::CallbackQueryExpired { .. }) => {
                log::debug!("a tap was answered too late: {e}")
            }
            Err(e) => log::info!("a tap could not be answered: {e}"),
        }
    }
}

/// The offered model `name` names: its id, or its id without the `client:` prefix when that is unique (any
/// case).
fn find_model<'a>(offered: &'a [Model], name: &str) -> Option<&'a Model> {
    let name = name.trim();
    offered
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(name))
        .or_else(|| {
            let mut short = offered.iter().filter(|m| {
                m.id.split_once(':')
                    .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(name))
            });
            match (short.next(), short.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
}
