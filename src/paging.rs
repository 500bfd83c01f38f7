//! One page of a long listing (the admin API's sessions, messages and dead jobs), validated once at the edge.

use serde::Serialize;

/// Rows per page when the caller does not say.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// The most rows one page may hold: enough for a screen or a script, small enough to answer at once.
pub const MAX_PER_PAGE: u32 = 500;

/// A valid page: `number >= 1`, `per_page` in `1..=MAX_PER_PAGE`. Only [`Page::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Page {
    #[serde(rename = "page")]
    number: u32,
    per_page: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("page must be 1 or more")]
    Number,
    #[error("per_page must be between 1 and {MAX_PER_PAGE}")]
    PerPage,
}

impl Page {
    /// `None` takes the default: the first page, [`DEFAULT_PER_PAGE`] rows.
    pub fn new(number: Option<u32>, per_page: Option<u32>) -> Result<Page, PageError> {
        let number = number.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if number == 0 {
            return Err(PageError::Number);
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(PageError::PerPage);
        }
        Ok(Page { number, per_page })
    }

    pub fn number(self) -> u32 {
        self.number
    }

    pub fn per_page(self) -> u32 {
        self.per_page
    }

    /// Rows before this page. At most `u32::MAX * MAX_PER_PAGE`, so it fits an `i64` (SQL `OFFSET`).
    pub fn offset(self) -> u64 {
        u64::from(self.number - 1) * u64::from(self.per_page)
    }
}

impl Default for Page {
    fn default() -> Self {
        Page {
            number: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_one_or_more_and_holds_one_to_the_maximum_rows() {
        assert_eq!(Page::new(None, None), Ok(Page::default()));
        assert_eq!(Page::new(Some(3), Some(20)).map(Page::offset), Ok(40));
        assert_eq!(Page::new(Some(0), None), Err(PageError::Number));
        assert_eq!(Page::new(None, Some(0)), Err(PageError::PerPage));
        assert_eq!(
            Page::new(None, Some(MAX_PER_PAGE + 1)),
            Err(PageError::PerPage)
        );
        assert!(Page::new(Some(u32::MAX), Some(MAX_PER_PAGE)).is_ok());
    }
}
