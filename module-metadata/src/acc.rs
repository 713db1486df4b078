//! What the extractors fill while reading the files of one part.

use std::fmt::Display;

use crate::capped::{Capped, Keyed};
use crate::limits::ExtractionLimits;
use crate::model::{Dependency, Input, ModulePart, Output, ProviderDependency, Resource};
use crate::text;
use crate::warnings::Warnings;

/// The file being read: where its warnings go and how long strings may be.
#[derive(Debug)]
pub(crate) struct FileCtx<'a> {
    /// The file's path, which starts each of its warnings.
    pub(crate) path: &'a str,
    /// The part's name in part-level warnings.
    pub(crate) part: &'a str,
    /// The limits in force.
    pub(crate) limits: &'a ExtractionLimits,
    /// Where warnings go.
    pub(crate) warnings: &'a mut Warnings,
}

impl FileCtx<'_> {
    /// Records a warning about this file.
    pub(crate) fn warn(&mut self, message: impl Display) {
        self.warnings.push(format!("{}: {message}", self.path));
    }

    /// `s` cut to `max_string_bytes`, with a warning naming `what` when cut.
    pub(crate) fn cap(&mut self, what: impl Display, mut s: String) -> String {
        let max = self.limits.max_string_bytes;
        if text::cut(&mut s, max) {
            self.warn(format_args!("{what} was cut at {max} bytes"));
        }
        s
    }

    /// Adds `item` to `list`.
    pub(crate) fn push<T: Keyed>(&mut self, list: &mut Capped<T>, item: T) {
        list.push(item, self.part, self.warnings);
    }
}

/// The entries of one part collected so far, over all its files.
#[derive(Debug)]
pub(crate) struct PartAcc {
    pub(crate) inputs: Capped<Input>,
    pub(crate) outputs: Capped<Output>,
    pub(crate) dependencies: Capped<Dependency>,
    pub(crate) provider_dependencies: Capped<ProviderDependency>,
    pub(crate) resources: Capped<Resource>,
    pub(crate) data_resources: Capped<Resource>,
    /// `required_version` constraints in file order.
    required_versions: Vec<String>,
    max_items: usize,
}

impl PartAcc {
    /// Empty lists, each capped at `max_items_per_part`.
    pub(crate) fn new(limits: &ExtractionLimits) -> Self {
        let max = limits.max_items_per_part;
        PartAcc {
            inputs: Capped::new(max),
            outputs: Capped::new(max),
            dependencies: Capped::new(max),
            provider_dependencies: Capped::new(max),
            resources: Capped::new(max),
            data_resources: Capped::named(max, "data source", "data sources"),
            required_versions: Vec::new(),
            max_items: max,
        }
    }

    /// Records one `required_version` constraint (at most
    /// `max_items_per_part` are kept).
    pub(crate) fn push_required_version(&mut self, ctx: &mut FileCtx<'_>, constraint: String) {
        if self.required_versions.len() < self.max_items {
            self.required_versions.push(constraint);
        } else {
            ctx.warn("too many required_version constraints; the rest were dropped");
        }
    }

    /// The finished part.
    pub(crate) fn finish(
        self,
        path: &str,
        readme: String,
        empty: bool,
        limits: &ExtractionLimits,
        warnings: &mut Warnings,
    ) -> ModulePart {
        let label = crate::warnings::part_label(path);
        let mut required_version =
            (!self.required_versions.is_empty()).then(|| self.required_versions.join(", "));
        if let Some(v) = &mut required_version {
            let max = limits.max_string_bytes;
            if text::cut(v, max) {
                warnings.push(format!("{label}: required_version was cut at {max} bytes"));
            }
        }
        ModulePart {
            path: path.to_owned(),
            name: path.rsplit('/').next().unwrap_or_default().to_owned(),
            readme,
            empty,
            inputs: self.inputs.finish(label, warnings),
            outputs: self.outputs.finish(label, warnings),
            dependencies: self.dependencies.finish(label, warnings),
            provider_dependencies: self.provider_dependencies.finish(label, warnings),
            resources: self.resources.finish(label, warnings),
            data_resources: self.data_resources.finish(label, warnings),
            required_version,
        }
    }
}
