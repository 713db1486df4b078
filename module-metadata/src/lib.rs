#![doc = include_str!("../README.md")]

mod acc;
mod capped;
mod description;
mod extract;
mod hcl;
mod json;
mod limits;
mod model;
mod paths;
mod scan;
mod text;
mod warnings;

pub use extract::extract;
pub use limits::ExtractionLimits;
pub use model::{
    Dependency, Input, ModuleMetadata, ModulePart, Output, ProviderDependency, Resource, SourceFile,
};
pub use paths::wanted;
