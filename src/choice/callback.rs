//! The `callback_data` of the choice keyboards: short versioned keys, never the raw names (a model id can be
//! longer than Telegram's 64 bytes), read back by a total decoder.
//!
//! | data              | meaning                                                    |
//! |-------------------|------------------------------------------------------------|
//! | `m:<page>`        | show page `<page>` (from 0) of the model keyboard          |
//! | `m=<index>:<h8>`  | choose the model at `<index>` of the offered list          |
//! | `r:<page>`        | show page `<page>` of the role keyboard                    |
//! | `r=<index>:<h8>`  | choose the role at `<index>` of the server's roles         |
//! | `r:off`           | no role                                                    |
//!
//! `<h8>` is 8 hex digits of a hash of the chosen name: a tap on an old keyboard whose entry moved or vanished
//! since it was sent finds another name (or none) at `<index>`, and is [`Key::find`]'s `None`: stale, never
//! the wrong model. The letters before `:`/`=` are the format's version: a later format takes other letters, so
//! an old keyboard is never misread.

use crate::telegram::keyboard::MAX_CALLBACK_DATA_BYTES;

/// Longest index read back: no list the bot shows is anywhere near a billion entries, and the bound keeps the
/// parse trivially total.
const MAX_INDEX_DIGITS: usize = 9;

/// A tap, as its data says. Any string decodes to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// `m:<page>`.
    ModelPage(usize),
    /// `m=<index>:<h8>`.
    Model(Key),
    /// `r:<page>`.
    RolePage(usize),
    /// `r=<index>:<h8>`.
    Role(Key),
    /// `r:off`.
    RoleOff,
    /// Data not made by this version of the bot (or tampered with).
    Unknown,
}

/// Which entry a choice names: its position in the list, and a hash of its name to check it is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub index: usize,
    pub hash: u32,
}

impl Key {
    /// The key of the entry `name` at `index`.
    pub fn new(index: usize, name: &str) -> Self {
        Self {
            index,
            hash: name_hash(name),
        }
    }

    /// The entry this key names in `items` (named by `name`), or `None` if the list changed under it: stale.
    pub fn find<'a, T>(&self, items: &'a [T], name: impl Fn(&T) -> &str) -> Option<&'a T> {
        items
            .get(self.index)
            .filter(|item| name_hash(name(item)) == self.hash)
    }
}

/// `m:<page>`.
pub fn model_page(page: usize) -> String {
    format!("m:{page}")
}

/// `m=<index>:<h8>` for the model `id` at `index` of the offered list.
pub fn model_choice(index: usize, id: &str) -> String {
    let key = Key::new(index, id);
    format!("m={}:{:08x}", key.index, key.hash)
}

/// `r:<page>`.
pub fn role_page(page: usize) -> String {
    format!("r:{page}")
}

/// `r=<index>:<h8>` for the role `name` at `index` of the server's roles.
pub fn role_choice(index: usize, name: &str) -> String {
    let key = Key::new(index, name);
    format!("r={}:{:08x}", key.index, key.hash)
}

/// `r:off`.
pub const ROLE_OFF: &str = "r:off";

/// Reads any `callback_data`; whatever it is, the answer is a [`Callback`].
pub fn decode(data: &str) -> Callback {
    if data.len() > MAX_CALLBACK_DATA_BYTES {
        return Callback::Unknown;
    }
    if data == ROLE_OFF {
        return Callback::RoleOff;
    }
    let page = |rest: &str| number(rest);
    let key = |rest: &str| -> Option<Key> {
        let (index, hash) = rest.split_once(':')?;
        let lower_hex =
            hash.len() == 8 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex {
            return None;
        }
        Some(Key {
            index: number(index)?,
            hash: u32::from_str_radix(hash, 16).ok()?,
        })
    };
    let decoded = if let Some(rest) = data.strip_prefix("m:") {
        page(rest).map(Callback::ModelPage)
    } else if let Some(rest) = data.strip_prefix("m=") {
        key(rest).map(Callback::Model)
    } else if let Some(rest) = data.strip_prefix("r:") {
        page(rest).map(Callback::RolePage)
    } else if let Some(rest) = data.strip_prefix("r=") {
        key(rest).map(Callback::Role)
    } else {
        None
    };
    decoded.unwrap_or(Callback::Unknown)
}

/// Plain decimal digits only (no sign, no blanks), at most [`MAX_INDEX_DIGITS`].
fn number(text: &str) -> Option<usize> {
    let plain = !text.is_empty()
        && text.len() <= MAX_INDEX_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
}

/// 32-bit FNV-1a of `name`: stable across builds and versions (unlike `std`'s hasher), which keys on keyboards
/// already sent rely on.
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_made_decodes_to_what_it_says() {
        let long_id = format!("openrouter:{}", "x".repeat(200));
        assert_eq!(decode(&model_page(3)), Callback::ModelPage(3));
        assert_eq!(decode(&role_page(0)), Callback::RolePage(0));
        assert_eq!(decode(ROLE_OFF), Callback::RoleOff);
        let data = model_choice(29, &long_id);
        assert!(data.len() <= MAX_CALLBACK_DATA_BYTES, "{data}");
        assert_eq!(decode(&data), Callback::Model(Key::new(29, &long_id)));
        assert_eq!(
            decode(&role_choice(2, "coder")),
            Callback::Role(Key::new(2, "coder"))
        );
    }

    #[test]
    fn a_key_finds_its_entry_only_while_it_is_still_there() {
        let before = ["a:one", "a:two", "a:three"];
        let after = ["a:one", "a:three"];
        let Callback::Model(key) = decode(&model_choice(2, "a:three")) else {
            panic!("not a model choice");
        };
        assert_eq!(key.find(&before, |s| s), Some(&"a:three"));
        assert_eq!(key.find(&after, |s| s), None, "moved: stale");
        assert_eq!(key.find(&after[..1], |s| s), None, "gone: stale");
    }

    #[test]
    fn the_hash_is_fnv_1a() {
        // Published FNV-1a 32-bit test vectors: keys on keyboards already sent must keep their meaning.
        assert_eq!(name_hash(""), 0x811c_9dc5);
        assert_eq!(name_hash("a"), 0xe40c_292c);
        assert_eq!(name_hash("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn anything_else_is_unknown() {
        for data in [
            "",
            "m",
            "m:",
            "m:-1",
            "m:+1",
            "m: 1",
            "m:1x",
            "m:9999999999",
            "m=1",
            "m=1:",
            "m=1:abc",
            "m=1:ABCDEF12",
            "m=-1:00000000",
            "m=1:000000000",
            "r:of",
            "r:OFF",
            "x:1",
            "M:1",
            "m:١",
            "m=1:0000000g",
        ] {
            assert_eq!(decode(data), Callback::Unknown, "{data:?}");
        }
        assert_eq!(decode(&"m:1".repeat(30)), Callback::Unknown);
    }

    #[test]
    fn decoding_is_total_over_arbitrary_strings() {
        let alphabet = [
            "m", "r", ":", "=", "0", "9", "f", "off", "é", "\u{0}", "-", " ",
        ];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for _ in 0..20_000 {
            let mut data = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bits = state;
            for _ in 0..(bits % 12) {
                bits /= 12;
                data.push_str(alphabet[(bits % alphabet.len() as u64) as usize]);
            }
            let _ = decode(&data);
        }
    }
}
