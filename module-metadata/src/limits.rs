//! Bounds on what one extraction reads and keeps.

use serde::{Deserialize, Serialize};

/// Bounds that keep [`extract`](crate::extract) small in time and memory on
/// hostile input. Every limit that is hit adds a warning; none fails the
/// extraction.
///
/// Build one with [`Default`] and change fields:
///
/// ```
/// let mut limits = module_metadata::ExtractionLimits::default();
/// limits.max_files = 100;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ExtractionLimits {
    /// Wanted files read at most (default 1,000); reading stops at the next
    /// one. Files [`wanted`](crate::wanted) refuses are not counted.
    pub max_files: usize,
    /// Largest configuration file read (default 1 MiB); a larger one is
    /// skipped.
    pub max_file_bytes: usize,
    /// Bytes read at most over all files (default 8 MiB; a README counts
    /// with its cut length); reading stops at the file that would pass it.
    pub max_total_bytes: usize,
    /// README bytes kept per directory (default 256 KiB); a longer README is
    /// cut on a character boundary.
    pub max_readme_bytes: usize,
    /// Submodules plus examples kept (default 200), the first by path.
    pub max_parts: usize,
    /// Deepest bracket, brace, parenthesis and string nesting a file may
    /// have (default 64), as counted by a linear pre-scan that errs on the
    /// deep side; a deeper file is skipped. The HCL parser also refuses more
    /// than 64 nested levels on its own, so raising this does not let deeper
    /// HCL through.
    pub max_nesting_depth: usize,
    /// Entries kept per list of one part (inputs, outputs, dependencies,
    /// provider dependencies, resources, data resources; default 1,000),
    /// the first by name.
    pub max_items_per_part: usize,
    /// Longest string kept (descriptions, type and default text, sources,
    /// versions, names; default 16 KiB), cut on a character boundary.
    pub max_string_bytes: usize,
    /// Warnings kept (default 200); one more says how many were dropped.
    pub max_warnings: usize,
}

impl Default for ExtractionLimits {
    fn default() -> Self {
        ExtractionLimits {
            max_files: 1_000,
            max_file_bytes: 1024 * 1024,
            max_total_bytes: 8 * 1024 * 1024,
            max_readme_bytes: 256 * 1024,
            max_parts: 200,
            max_nesting_depth: 64,
            max_items_per_part: 1_000,
            max_string_bytes: 16 * 1024,
            max_warnings: 200,
        }
    }
}
