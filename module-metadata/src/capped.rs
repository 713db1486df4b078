//! A list that keeps the first `max` entries by key, deduplicated, in
//! memory bounded by `2 * max` entries however many are pushed.

use crate::model::{Dependency, Input, Output, ProviderDependency, Resource};
use crate::warnings::Warnings;

/// An entry with a sort and identity key.
pub(crate) trait Keyed {
    /// What the entry is called in warnings, e.g. `variable`.
    const WHAT: &'static str;
    /// What several entries are called in warnings, e.g. `inputs`.
    const WHAT_PLURAL: &'static str;
    /// The entry's name, then a second key (`""` when none).
    fn key(&self) -> (&str, &str);
}

impl Keyed for Input {
    const WHAT: &'static str = "variable";
    const WHAT_PLURAL: &'static str = "inputs";
    fn key(&self) -> (&str, &str) {
        (&self.name, "")
    }
}

impl Keyed for Output {
    const WHAT: &'static str = "output";
    const WHAT_PLURAL: &'static str = "outputs";
    fn key(&self) -> (&str, &str) {
        (&self.name, "")
    }
}

impl Keyed for Dependency {
    const WHAT: &'static str = "module call";
    const WHAT_PLURAL: &'static str = "module calls";
    fn key(&self) -> (&str, &str) {
        (&self.name, "")
    }
}

impl Keyed for ProviderDependency {
    const WHAT: &'static str = "required provider";
    const WHAT_PLURAL: &'static str = "required providers";
    fn key(&self) -> (&str, &str) {
        (&self.name, "")
    }
}

impl Keyed for Resource {
    const WHAT: &'static str = "resource";
    const WHAT_PLURAL: &'static str = "resources";
    fn key(&self) -> (&str, &str) {
        (&self.name, &self.r#type)
    }
}

/// Entries of one list of one part.
#[derive(Debug)]
pub(crate) struct Capped<T> {
    items: Vec<T>,
    max: usize,
    truncated: bool,
    what: &'static str,
    what_plural: &'static str,
}

impl<T: Keyed> Capped<T> {
    /// An empty list keeping at most `max` entries.
    pub(crate) fn new(max: usize) -> Self {
        Self::named(max, T::WHAT, T::WHAT_PLURAL)
    }

    /// Like [`Capped::new`], with other words for the warnings.
    pub(crate) fn named(max: usize, what: &'static str, what_plural: &'static str) -> Self {
        Capped {
            items: Vec::new(),
            max,
            truncated: false,
            what,
            what_plural,
        }
    }

    /// Adds an entry; pushes of the same key after the first are dropped
    /// with a warning (at the next compaction).
    pub(crate) fn push(&mut self, item: T, part: &str, warnings: &mut Warnings) {
        self.items.push(item);
        if self.items.len() >= self.max.saturating_mul(2).max(16) {
            self.compact(part, warnings);
        }
    }

    /// Sorts stably by key, drops duplicates (keeping the first pushed) and
    /// keeps the first `max`.
    fn compact(&mut self, part: &str, warnings: &mut Warnings) {
        self.items.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut kept: Vec<T> = Vec::with_capacity(self.items.len().min(self.max));
        for item in self.items.drain(..) {
            if kept.last().is_some_and(|last| last.key() == item.key()) {
                let (name, second) = item.key();
                let name = if second.is_empty() {
                    format!("\"{name}\"")
                } else {
                    format!("\"{second}\" \"{name}\"")
                };
                warnings.push(format!(
                    "{part}: {} {name} is declared more than once; the first declaration was kept",
                    self.what
                ));
            } else {
                kept.push(item);
            }
        }
        if kept.len() > self.max {
            kept.truncate(self.max);
            self.truncated = true;
        }
        self.items = kept;
    }

    /// The sorted, deduplicated, capped entries; warns once when entries
    /// were dropped for the cap.
    pub(crate) fn finish(mut self, part: &str, warnings: &mut Warnings) -> Vec<T> {
        self.compact(part, warnings);
        if self.truncated {
            warnings.push(format!(
                "{part}: more than {} {}; only the first {} by name were kept",
                self.max, self.what_plural, self.max
            ));
        }
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(name: &str, description: &str) -> Output {
        Output {
            name: name.into(),
            description: description.into(),
            sensitive: false,
        }
    }

    #[test]
    fn sorts_dedupes_keeping_first_and_caps() {
        let mut w = Warnings::new(100);
        let mut list = Capped::new(3);
        for (name, d) in [("b", "1"), ("a", "2"), ("b", "3"), ("d", "4"), ("c", "5")] {
            list.push(output(name, d), "root module", &mut w);
        }
        let got = list.finish("root module", &mut w);
        assert_eq!(got, [output("a", "2"), output("b", "1"), output("c", "5")]);
        assert_eq!(
            w.finish(),
            [
                "root module: output \"b\" is declared more than once; the first declaration was kept",
                "root module: more than 3 outputs; only the first 3 by name were kept",
            ]
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let mut w = Warnings::new(0);
        let mut list = Capped::new(10);
        for i in 0..10_000 {
            list.push(output(&format!("o{i:05}"), ""), "p", &mut w);
            assert!(list.items.len() < 20);
        }
        let got = list.finish("p", &mut w);
        assert_eq!(got.len(), 10);
        assert_eq!(got[0].name, "o00000");
        assert_eq!(got[9].name, "o00009");
    }
}
