//! What tokens cost: the server's prices (aichat lists `input_price` and `output_price` per million tokens in
//! `/v1/models`) and `MODEL_PRICES`, which sets or overrides them (`gpt-4o=2.5/10,openai:*=1/2`).

/// Prices per million tokens: prompt (input) and completion (output), in the server's currency (aichat: USD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Price {
    /// The cost of `prompt` and `completion` tokens.
    pub fn cost(&self, prompt: u64, completion: u64) -> f64 {
        (prompt as f64 * self.input + completion as f64 * self.output) / 1_000_000.0
    }
}

/// `MODEL_PRICES`: patterns (an id, or a prefix ending in `*`) with their prices, in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelPrices(Vec<(String, Price)>);

impl ModelPrices {
    /// Reads `pattern=input/output` entries separated by commas.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || format!("{item:?} is not model=input/output (e.g. gpt-4o=2.5/10)");
            let (pattern, figures) = item.rsplit_once('=').ok_or_else(bad)?;
            let (input, output) = figures.split_once('/').ok_or_else(bad)?;
            let price = Price {
                input: input.trim().parse().map_err(|_| bad())?,
                output: output.trim().parse().map_err(|_| bad())?,
            };
            let pattern = pattern.trim();
            let valid = |p: f64| p.is_finite() && p >= 0.0;
            if pattern.is_empty() || !valid(price.input) || !valid(price.output) {
                return Err(bad());
            }
            if pattern.trim_end_matches('*').contains('*') {
                return Err(format!("{item:?}: a * may only end a model name"));
            }
            out.push((pattern.to_string(), price));
        }
        Ok(Self(out))
    }

    /// The price of `model`: the first matching `MODEL_PRICES` entry (an exact id before any prefix), else
    /// what the server lists (`server`), else unknown.
    pub fn price_of(&self, model: &str, server: Option<Price>) -> Option<Price> {
        let exact = self.0.iter().find(|(p, _)| p == model);
        let prefix = || {
            self.0.iter().find(|(p, _)| {
                p.strip_suffix('*')
                    .is_some_and(|prefix| model.starts_with(prefix))
            })
        };
        exact.or_else(prefix).map(|(_, price)| *price).or(server)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for ModelPrices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(p, price)| format!("{p}={}/{}", price.input, price.output))
            .collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_price_wins_then_a_prefix_then_the_servers() {
        let prices = ModelPrices::parse("openai:*=1/2, openai:gpt-4o=2.5/10").unwrap();
        let server = Some(Price {
            input: 0.15,
            output: 0.6,
        });
        assert_eq!(
            prices.price_of("openai:gpt-4o", server),
            Some(Price {
                input: 2.5,
                output: 10.0
            })
        );
        assert_eq!(
            prices.price_of("openai:o1", None).map(|p| p.input),
            Some(1.0)
        );
        assert_eq!(prices.price_of("claude:sonnet", server), server);
        assert_eq!(prices.price_of("claude:sonnet", None), None);
    }

    #[test]
    fn a_cost_is_per_million_tokens() {
        let price = Price {
            input: 2.5,
            output: 10.0,
        };
        assert!((price.cost(1_000_000, 100_000) - 3.5).abs() < 1e-9);
        assert_eq!(price.cost(0, 0), 0.0);
    }

    #[test]
    fn bad_prices_are_refused() {
        for bad in [
            "gpt-4o",
            "gpt-4o=1",
            "gpt-4o=a/b",
            "=1/2",
            "g*t=1/2",
            "x=-1/2",
            "x=inf/1",
        ] {
            assert!(ModelPrices::parse(bad).is_err(), "{bad}");
        }
        assert!(ModelPrices::parse("").unwrap().is_empty());
    }
}
