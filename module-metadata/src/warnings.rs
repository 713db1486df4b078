//! The bounded list of warnings one extraction collects.

/// Collects warnings up to a maximum and counts the rest.
#[derive(Debug)]
pub(crate) struct Warnings {
    list: Vec<String>,
    max: usize,
    dropped: usize,
}

impl Warnings {
    /// An empty list that keeps at most `max` warnings.
    pub(crate) fn new(max: usize) -> Self {
        Warnings {
            list: Vec::new(),
            max,
            dropped: 0,
        }
    }

    /// Records one warning, or counts it when the list is full.
    pub(crate) fn push(&mut self, warning: String) {
        if self.list.len() < self.max {
            self.list.push(warning);
        } else {
            self.dropped += 1;
        }
    }

    /// The warnings kept, followed by one that counts those dropped.
    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list.push(format!(
                "{} more warnings were dropped (the limit is {})",
                self.dropped, self.max
            ));
        }
        self.list
    }
}

/// Where a warning comes from: a file, or a part (directory) as a whole.
///
/// The root part is called `root module`, other parts by their path.
pub(crate) fn part_label(path: &str) -> &str {
    if path.is_empty() {
        "root module"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_max_and_counts_the_rest() {
        let mut w = Warnings::new(2);
        for i in 0..5 {
            w.push(format!("w{i}"));
        }
        assert_eq!(
            w.finish(),
            ["w0", "w1", "3 more warnings were dropped (the limit is 2)"]
        );
    }
}
