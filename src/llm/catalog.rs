//! What the model server offers: `GET {AICHAT_BASE_URL}/v1/models` (every model, with its kind, limits,
//! vision and prices, as `aichat --serve` lists them) and `GET {AICHAT_BASE_URL}/v1/roles` (aichat's roles).
//!
//! Parsing is tolerant, as the lists come from many servers: unknown fields are ignored, a field of the wrong
//! type counts as absent, and an entry that cannot be read (not an object, no name) is skipped with a warning
//! rather than losing the whole list. A server without roles (a plain OpenAI-compatible server answers 404)
//! is the typed [`CatalogError::RolesUnavailable`], not an error text.

use super::client::{error_from_body, send_failed, LlmClient};
use super::error::LlmError;
use serde_json::Value;
use std::time::Duration;

/// Largest list we read. OpenRouter's list of several hundred models is about 1 MB; this bounds a runaway body.
const MAX_LIST_BYTES: usize = 8 * 1024 * 1024;

/// What a model is for. aichat lists its embedding and reranker models next to the chat models; only a chat
/// model can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// `"type": "chat"`, or no `type` at all (OpenAI and most servers list chat models without one).
    Chat,
    /// `"type": "embedding"`.
    Embedding,
    /// `"type": "reranker"`.
    Reranker,
}

/// One model as the server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The name a request uses (`model`); aichat's are `client:name`, and its first entry is `default`.
    pub id: String,
    pub kind: ModelKind,
    /// The model's context window in tokens, when the server says (aichat does; OpenAI does not).
    pub max_input_tokens: Option<u64>,
    /// The longest answer in tokens, when the server says.
    pub max_output_tokens: Option<u64>,
    /// Whether it reads images (aichat lists `supports_vision` only when true).
    pub supports_vision: bool,
    /// Price per million input tokens, in the currency of the provider, when the server says.
    pub input_price: Option<f64>,
    /// Price per million output tokens, when the server says.
    pub output_price: Option<f64>,
}

/// One of aichat's roles: a named system prompt, optionally with the model it is meant for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// The system prompt (aichat's default when the role has none: empty).
    pub prompt: String,
    /// The model the role names (`client:name`), if it names one.
    pub model: Option<String>,
}

/// Why a list could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// The server has no `/v1/roles`: a plain OpenAI-compatible server (404), or an aichat older than its roles
    /// endpoint (400 "The requested endpoint was not found.").
    #[error("the model server has no roles")]
    RolesUnavailable,
    /// The request failed, or the answer could not be read.
    #[error(transparent)]
    Llm(#[from] LlmError),
}

impl LlmClient {
    /// Every model the server lists (`GET /v1/models`), in its order, kinds included.
    pub async fn list_models(&self, timeout: Duration) -> Result<Vec<Model>, LlmError> {
        let (status, body) = self.fetch("models", timeout).await?;
        if !(200..300).contains(&status) {
            return Err(error_from_body(status, &body));
        }
        parse_models(&body)
    }

    /// The server's roles (`GET /v1/roles`), in its order. [`CatalogError::RolesUnavailable`] when it has none.
    pub async fn list_roles(&self, timeout: Duration) -> Result<Vec<Role>, CatalogError> {
        let (status, body) = self.fetch("roles", timeout).await?;
        parse_roles(status, &body)
    }

    /// One GET of a list: its status and body.
    async fn fetch(&self, path: &str, timeout: Duration) -> Result<(u16, Vec<u8>), LlmError> {
        let work = async {
            let mut response = self
                .get_v1(path, timeout)
                .send()
                .await
                .map_err(send_failed)?;
            let status = response.status().as_u16();
            let body = response
                .body()
                .limit(MAX_LIST_BYTES)
                .await
                .map_err(|e| LlmError::BadResponse(e.to_string()))?;
            Ok((status, body.to_vec()))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout),
        }
    }
}

/// Reads a `/v1/models` answer (`{"data": [...]}`). Pure, so every server's shape is unit-tested.
pub fn parse_models(body: &[u8]) -> Result<Vec<Model>, LlmError> {
    let entries = data_array(body, "model list")?;
    Ok(entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| match read_model(entry) {
            Ok(model) => Some(model),
            Err(why) => {
                log::warn!("GET /v1/models: entry {i} skipped: {why}");
                None
            }
        })
        .collect())
}

/// Reads a `/v1/roles` answer with its status: the roles, [`CatalogError::RolesUnavailable`], or the error.
pub fn parse_roles(status: u16, body: &[u8]) -> Result<Vec<Role>, CatalogError> {
    if status == 404 || (status == 400 && says_no_such_endpoint(body)) {
        return Err(CatalogError::RolesUnavailable);
    }
    if !(200..300).contains(&status) {
        return Err(error_from_body(status, body).into());
    }
    let entries = data_array(body, "role list")?;
    Ok(entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| match read_role(entry) {
            Ok(role) => Some(role),
            Err(why) => {
                log::warn!("GET /v1/roles: entry {i} skipped: {why}");
                None
            }
        })
        .collect())
}

/// aichat answers an endpoint it does not have with 400 and this text.
fn says_no_such_endpoint(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_lowercase()
        .contains("endpoint was not found")
}

/// The `data` array of a list answer.
fn data_array(body: &[u8], what: &str) -> Result<Vec<Value>, LlmError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::BadResponse(format!("not a {what}: {e}")))?;
    match value.get("data") {
        Some(Value::Array(entries)) => Ok(entries.clone()),
        _ => Err(LlmError::BadResponse(format!(
            "not a {what}: no data array"
        ))),
    }
}

fn read_model(entry: &Value) -> Result<Model, String> {
    let id = non_empty_string(entry, "id").ok_or("no id")?;
    let kind = match entry.get("type") {
        None | Some(Value::Null) => ModelKind::Chat,
        Some(Value::String(kind)) => match kind.as_str() {
            "chat" => ModelKind::Chat,
            "embedding" => ModelKind::Embedding,
            "reranker" => ModelKind::Reranker,
            other => return Err(format!("{id}: unknown type {other:?}")),
        },
        Some(_) => return Err(format!("{id}: type is not a string")),
    };
    Ok(Model {
        id,
        kind,
        max_input_tokens: entry.get("max_input_tokens").and_then(Value::as_u64),
        max_output_tokens: entry.get("max_output_tokens").and_then(Value::as_u64),
        supports_vision: entry.get("supports_vision").and_then(Value::as_bool) == Some(true),
        input_price: entry.get("input_price").and_then(Value::as_f64),
        output_price: entry.get("output_price").and_then(Value::as_f64),
    })
}

fn read_role(entry: &Value) -> Result<Role, String> {
    let name = non_empty_string(entry, "name").ok_or("no name")?;
    Ok(Role {
        prompt: entry
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        model: non_empty_string(entry, "model"),
        name,
    })
}

/// The field as a string, when it is one and not blank.
fn non_empty_string(entry: &Value, field: &str) -> Option<String> {
    entry
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn models(body: Value) -> Vec<Model> {
        parse_models(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn aichat_models_are_read_with_kind_limits_vision_and_prices() {
        // As `aichat --serve` lists them: `default` first, `supports_*` only when true.
        let list = models(json!({"data": [
            {"id": "default", "object": "model", "owned_by": "openai", "type": "chat",
             "max_input_tokens": 128000, "max_output_tokens": 16384,
             "input_price": 0.15, "output_price": 0.6, "supports_vision": true,
             "supports_function_calling": true},
            {"id": "openai:gpt-4o-mini", "object": "model", "owned_by": "openai", "type": "chat",
             "max_input_tokens": 128000, "max_output_tokens": 16384,
             "input_price": 0.15, "output_price": 0.6, "supports_vision": true},
            {"id": "openai:text-embedding-3-small", "object": "model", "owned_by": "openai",
             "type": "embedding", "max_input_tokens": 8191, "input_price": 0.02,
             "output_vector_size": 1536, "max_batch_size": 100},
            {"id": "jina:jina-reranker-v2-base-multilingual", "object": "model", "owned_by": "jina",
             "type": "reranker", "max_input_tokens": 1024},
        ]}));
        assert_eq!(list.len(), 4);
        assert_eq!(
            list[1],
            Model {
                id: "openai:gpt-4o-mini".into(),
                kind: ModelKind::Chat,
                max_input_tokens: Some(128_000),
                max_output_tokens: Some(16_384),
                supports_vision: true,
                input_price: Some(0.15),
                output_price: Some(0.6),
            }
        );
        assert_eq!(list[2].kind, ModelKind::Embedding);
        assert_eq!(list[3].kind, ModelKind::Reranker);
        assert!(!list[3].supports_vision);
    }

    #[test]
    fn a_model_without_type_or_extras_counts_as_a_chat_model() {
        // As OpenAI lists them.
        let list = models(json!({"object": "list", "data": [
            {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
        ]}));
        assert_eq!(
            list,
            vec![Model {
                id: "gpt-4o".into(),
                kind: ModelKind::Chat,
                max_input_tokens: None,
                max_output_tokens: None,
                supports_vision: false,
                input_price: None,
                output_price: None,
            }]
        );
    }

    #[test]
    fn a_malformed_model_is_skipped_and_the_others_kept() {
        let list = models(json!({"data": [
            {"object": "model"},
            "not an object",
            {"id": ""},
            {"id": 7},
            {"id": "a:image-model", "type": "image"},
            {"id": "a:odd", "type": 3},
            {"id": "a:kept", "max_input_tokens": "lots", "supports_vision": "yes", "input_price": null,
             "max_output_tokens": -1},
        ]}));
        assert_eq!(list.len(), 1, "{list:?}");
        let kept = &list[0];
        assert_eq!(kept.id, "a:kept");
        assert_eq!(
            kept.max_input_tokens, None,
            "a field of the wrong type counts as absent"
        );
        assert_eq!(kept.max_output_tokens, None);
        assert!(!kept.supports_vision);
    }

    #[test]
    fn an_answer_that_is_not_a_list_is_a_bad_response() {
        for body in [&b"<html>"[..], br#"{"models": []}"#, br#"{"data": {}}"#] {
            assert!(
                matches!(parse_models(body), Err(LlmError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn aichat_roles_are_read_with_their_optional_model() {
        let body = json!({"data": [
            {"name": "translator", "prompt": "Translate into English.", "model": "openai:gpt-4o",
             "temperature": 0.2},
            {"name": "coder", "prompt": "Write code only."},
            {"name": "blank"},
            {"prompt": "nameless"},
            {"name": "empty-model", "prompt": "p", "model": ""},
        ]});
        let roles = parse_roles(200, body.to_string().as_bytes()).unwrap();
        assert_eq!(
            roles,
            vec![
                Role {
                    name: "translator".into(),
                    prompt: "Translate into English.".into(),
                    model: Some("openai:gpt-4o".into()),
                },
                Role {
                    name: "coder".into(),
                    prompt: "Write code only.".into(),
                    model: None,
                },
                Role {
                    name: "blank".into(),
                    prompt: String::new(),
                    model: None,
                },
                Role {
                    name: "empty-model".into(),
                    prompt: "p".into(),
                    model: None,
                },
            ]
        );
    }

    #[test]
    fn a_server_without_roles_is_roles_unavailable() {
        // OpenAI's answer to a path it does not have.
        let openai = br#"{"error":{"message":"Invalid URL (GET /v1/roles)","type":"invalid_request_error","param":null,"code":null}}"#;
        assert!(matches!(
            parse_roles(404, openai),
            Err(CatalogError::RolesUnavailable)
        ));
        assert!(matches!(
            parse_roles(404, b""),
            Err(CatalogError::RolesUnavailable)
        ));
        // An aichat without the endpoint.
        let aichat = br#"{"error":{"message":"The requested endpoint was not found.","type":"invalid_request_error"}}"#;
        assert!(matches!(
            parse_roles(400, aichat),
            Err(CatalogError::RolesUnavailable)
        ));
    }

    #[test]
    fn other_role_failures_are_typed_llm_errors() {
        assert!(matches!(
            parse_roles(401, b"no"),
            Err(CatalogError::Llm(LlmError::Unauthorized(401)))
        ));
        assert!(matches!(
            parse_roles(503, b"down"),
            Err(CatalogError::Llm(LlmError::Server { status: 503, .. }))
        ));
        assert!(matches!(
            parse_roles(200, b"[]"),
            Err(CatalogError::Llm(LlmError::BadResponse(_)))
        ));
    }
}

#[cfg(test)]
mod http_tests {
    use super::*;
    use crate::secret::Secret;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use serde_json::json;

    async fn models(req: HttpRequest) -> HttpResponse {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        HttpResponse::Ok().json(json!({"data": [
            {"id": "a:chat", "type": "chat", "max_input_tokens": 1000},
            {"id": auth, "type": "embedding"},
        ]}))
    }

    async fn roles() -> HttpResponse {
        HttpResponse::Ok().json(json!({"data": [{"name": "r", "prompt": "p"}]}))
    }

    async fn missing() -> HttpResponse {
        HttpResponse::NotFound().json(json!({"error": {"message": "Invalid URL"}}))
    }

    /// A server with `/with/v1/{models,roles}` and `/without/v1/models` (its roles are 404).
    fn start() -> (u16, actix_web::dev::ServerHandle) {
        let server = HttpServer::new(|| {
            App::new()
                .route("/with/v1/models", web::get().to(models))
                .route("/with/v1/roles", web::get().to(roles))
                .route("/without/v1/models", web::get().to(models))
                .default_service(web::to(missing))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        (port, handle)
    }

    #[actix_rt::test]
    async fn the_lists_are_fetched_with_the_api_key_and_missing_roles_are_typed() {
        let (port, handle) = start();
        let with = LlmClient::new(
            &format!("http://127.0.0.1:{port}/with/"),
            "a:chat",
            Some(Secret::new("k3y")),
        );
        let without = LlmClient::new(&format!("http://127.0.0.1:{port}/without"), "m", None);
        let second = Duration::from_secs(5);

        let listed = with.list_models(second).await.unwrap();
        let roles = with.list_roles(second).await.unwrap();
        let no_roles = without.list_roles(second).await;

        assert_eq!(listed[0].max_input_tokens, Some(1000));
        assert_eq!(listed[1].id, "Bearer k3y", "the key goes along");
        assert_eq!(roles[0].name, "r");
        assert!(
            matches!(no_roles, Err(CatalogError::RolesUnavailable)),
            "{no_roles:?}"
        );
        handle.stop(false).await;
    }

    #[actix_rt::test]
    async fn an_unreachable_server_is_a_typed_error() {
        let (port, handle) = start();
        handle.stop(false).await;
        let client = LlmClient::new(&format!("http://127.0.0.1:{port}"), "m", None);
        let models = client.list_models(Duration::from_secs(5)).await;
        let roles = client.list_roles(Duration::from_secs(5)).await;
        assert!(
            matches!(models, Err(LlmError::Unreachable(_))),
            "{models:?}"
        );
        assert!(
            matches!(roles, Err(CatalogError::Llm(LlmError::Unreachable(_)))),
            "{roles:?}"
        );
    }
}
