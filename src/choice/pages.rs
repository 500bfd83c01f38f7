//! The choice keyboards, a page at a time: one row per entry (the current one marked), then a row to turn the
//! pages when there is more than one.

use super::callback::{model_choice, model_page, role_choice, role_page, ROLE_OFF};
use super::labels::labels;
use crate::llm::catalog::{Model, Role};
use crate::telegram::keyboard::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Entries on one page: eight rows fit on a phone's screen above the keyboard without scrolling.
pub const PAGE_SIZE: usize = 8;

/// The mark in front of the current entry's label.
pub const CURRENT_MARK: &str = "✓ ";

/// Buttons that turn to the page before and after.
const PREVIOUS: &str = "◀";
const NEXT: &str = "▶";

/// How many pages `entries` entries take (at least one, even when empty).
pub fn page_count(entries: usize) -> usize {
    entries.div_ceil(PAGE_SIZE).max(1)
}

/// The page showing the entry at `index`.
pub fn page_of(index: usize) -> usize {
    index / PAGE_SIZE
}

/// Page `page` (from 0; past the end: the last page) of the keyboard of `offered` models, `current` marked.
pub fn model_keyboard(offered: &[Model], current: &str, page: usize) -> InlineKeyboardMarkup {
    let ids: Vec<&str> = offered.iter().map(|m| m.id.as_str()).collect();
    let rows = entry_rows(&ids, Some(current), page, model_choice);
    paged(rows, ids.len(), page, model_page)
}

/// Page `page` of the keyboard of the server's `roles`, `current` (a role's name) marked, with a last entry
/// labelled `off_label` for no role (marked when there is no current role).
pub fn role_keyboard(
    roles: &[Role],
    current: Option<&str>,
    page: usize,
    off_label: &str,
) -> InlineKeyboardMarkup {
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let mut rows = entry_rows(&names, current, page, role_choice);
    let off = match current {
        None => format!("{CURRENT_MARK}{off_label}"),
        Some(_) => off_label.to_string(),
    };
    rows.push(vec![InlineKeyboardButton::callback(off, ROLE_OFF)]);
    paged(rows, names.len(), page, role_page)
}

/// The rows of the entries on `page` (clamped to the last page), each with the data `choice(index, name)`.
fn entry_rows(
    names: &[&str],
    current: Option<&str>,
    page: usize,
    choice: fn(usize, &str) -> String,
) -> Vec<Vec<InlineKeyboardButton>> {
    let page = page.min(page_count(names.len()) - 1);
    let labels = labels(names);
    names
        .iter()
        .zip(labels)
        .enumerate()
        .skip(page * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(index, (name, label))| {
            let text = if Some(*name) == current {
                format!("{CURRENT_MARK}{label}")
            } else {
                label
            };
            vec![InlineKeyboardButton::callback(text, choice(index, name))]
        })
        .collect()
}

/// `rows`, then (with more than one page) ◀ (not on the first page), "page/pages" and ▶ (not on the last).
fn paged(
    mut rows: Vec<Vec<InlineKeyboardButton>>,
    entries: usize,
    page: usize,
    page_data: fn(usize) -> String,
) -> InlineKeyboardMarkup {
    let pages = page_count(entries);
    let page = page.min(pages - 1);
    if pages > 1 {
        let mut turn = Vec::with_capacity(3);
        if page > 0 {
            turn.push(InlineKeyboardButton::callback(
                PREVIOUS,
                page_data(page - 1),
            ));
        }
        // Every inline button must do something: this one shows the same page again.
        turn.push(InlineKeyboardButton::callback(
            format!("{}/{pages}", page + 1),
            page_data(page),
        ));
        if page + 1 < pages {
            turn.push(InlineKeyboardButton::callback(NEXT, page_data(page + 1)));
        }
        rows.push(turn);
    }
    InlineKeyboardMarkup {
        inline_keyboard: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::callback::{decode, Callback};
    use crate::llm::catalog::ModelKind;
    use crate::telegram::keyboard::MAX_CALLBACK_DATA_BYTES;

    fn model(id: &str) -> Model {
        Model {
            id: id.into(),
            kind: ModelKind::Chat,
            max_input_tokens: None,
            max_output_tokens: None,
            supports_vision: false,
            input_price: None,
            output_price: None,
        }
    }

    fn thirty() -> Vec<Model> {
        (0..30)
            .map(|i| model(&format!("client:model-{i:02}")))
            .collect()
    }

    fn texts(markup: &InlineKeyboardMarkup) -> Vec<Vec<&str>> {
        markup
            .inline_keyboard
            .iter()
            .map(|row| row.iter().map(|b| b.text.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_short_list_is_one_page_without_a_turning_row() {
        let offered = vec![model("a:one"), model("a:two")];
        let markup = model_keyboard(&offered, "a:two", 0);
        assert_eq!(texts(&markup), [vec!["one"], vec!["✓ two"]]);
        assert_eq!(
            decode(
                markup.inline_keyboard[1][0]
                    .callback_data
                    .as_deref()
                    .unwrap()
            ),
            Callback::Model(crate::choice::callback::Key::new(1, "a:two"))
        );
    }

    #[test]
    fn thirty_models_take_four_pages_with_the_arrows_that_apply() {
        let offered = thirty();
        let first = model_keyboard(&offered, "client:model-09", 0);
        let second = model_keyboard(&offered, "client:model-09", 1);
        let last = model_keyboard(&offered, "client:model-09", 3);
        let past_the_end = model_keyboard(&offered, "client:model-09", 99);

        assert_eq!(first.inline_keyboard.len(), PAGE_SIZE + 1);
        assert_eq!(texts(&first)[PAGE_SIZE], ["1/4", "▶"]);
        assert_eq!(texts(&second)[1], ["✓ model-09"]);
        assert_eq!(texts(&second)[PAGE_SIZE], ["◀", "2/4", "▶"]);
        assert_eq!(texts(&last).len(), 30 - 3 * PAGE_SIZE + 1);
        assert_eq!(texts(&last)[0], ["model-24"]);
        assert_eq!(texts(&last).last().unwrap(), &["◀", "4/4"]);
        assert_eq!(past_the_end, last);
        let turn: Vec<Callback> = second.inline_keyboard[PAGE_SIZE]
            .iter()
            .map(|b| decode(b.callback_data.as_deref().unwrap()))
            .collect();
        assert_eq!(
            turn,
            [
                Callback::ModelPage(0),
                Callback::ModelPage(1),
                Callback::ModelPage(2)
            ]
        );
        assert_eq!(page_of(9), 1);
    }

    #[test]
    fn every_button_has_short_data_and_one_row_per_model() {
        let offered: Vec<Model> = (0..20)
            .map(|i| {
                model(&format!(
                    "openrouter:{}-{i}",
                    "very-long-model-name/".repeat(5)
                ))
            })
            .collect();
        for page in 0..page_count(offered.len()) {
            let markup = model_keyboard(&offered, "", page);
            for row in &markup.inline_keyboard[..markup.inline_keyboard.len() - 1] {
                assert_eq!(row.len(), 1);
            }
            for data in markup.callback_data() {
                assert!(
                    !data.is_empty() && data.len() <= MAX_CALLBACK_DATA_BYTES,
                    "{data}"
                );
            }
        }
    }

    #[test]
    fn the_role_keyboard_ends_with_no_role_marked_when_no_role_is_set() {
        let roles = vec![
            Role {
                name: "coder".into(),
                prompt: "p".into(),
                model: None,
            },
            Role {
                name: "translator".into(),
                prompt: "q".into(),
                model: None,
            },
        ];
        let none = role_keyboard(&roles, None, 0, "No role");
        let coder = role_keyboard(&roles, Some("coder"), 0, "No role");
        assert_eq!(
            texts(&none),
            [vec!["coder"], vec!["translator"], vec!["✓ No role"]]
        );
        assert_eq!(
            texts(&coder),
            [vec!["✓ coder"], vec!["translator"], vec!["No role"]]
        );
        assert_eq!(
            decode(
                coder.inline_keyboard[2][0]
                    .callback_data
                    .as_deref()
                    .unwrap()
            ),
            Callback::RoleOff
        );
        assert_eq!(
            decode(
                coder.inline_keyboard[1][0]
                    .callback_data
                    .as_deref()
                    .unwrap()
            ),
            Callback::Role(crate::choice::callback::Key::new(1, "translator"))
        );
    }

    #[test]
    fn an_empty_list_is_an_empty_keyboard() {
        assert!(model_keyboard(&[], "x", 3).inline_keyboard.is_empty());
    }
}
