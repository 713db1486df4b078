//! The entry point: reading the files, grouping them into parts, and
//! running the extractors.

use std::collections::BTreeMap;

use crate::acc::{FileCtx, PartAcc};
use crate::limits::ExtractionLimits;
use crate::model::{ModuleMetadata, ModulePart, SourceFile};
use crate::paths::{self, FileKind};
use crate::warnings::{part_label, Warnings};
use crate::{hcl, json, scan, text};

/// The files of one directory that extraction accepted.
#[derive(Debug, Default)]
struct Dir {
    /// Configuration files by name, with their kind.
    config: BTreeMap<String, (FileKind, Vec<u8>)>,
    /// README candidates by name, already decoded and cut.
    readmes: BTreeMap<String, String>,
    /// Whether the directory has a configuration file (override files do
    /// not count; files skipped for their size do).
    has_config: bool,
}

/// Extracts the registry metadata of one module version from its files.
///
/// `files` are the module's files, paths relative to its root (see
/// [`SourceFile`]); files [`wanted`](crate::wanted) refuses are ignored, so
/// passing every file of the archive is fine. The result never depends on
/// the order of `files`, except for which files are dropped when
/// `max_files` or `max_total_bytes` is reached (reading stops there).
///
/// # Contract
///
/// - Pure and synchronous: no I/O; never panics; time and memory are
///   bounded by `limits` (every limit that is hit adds a warning).
/// - Parts: the root always; `modules/<dir>` and `examples/<dir>` for every
///   such directory with a wanted file, sorted by path, at most
///   `max_parts` of them together (the first by path).
/// - Files of a part are read in file-name order. `override.tf`,
///   `*_override.tf` and their `.tofu`/`.json` twins are skipped without a
///   warning (overrides are not merged). As in OpenTofu, `x.tf` is ignored
///   when `x.tofu` exists in the same directory, and `x.tf.json` when
///   `x.tofu.json` does.
/// - A file that is not UTF-8, nests deeper than `max_nesting_depth` or does
///   not parse adds one warning naming it and contributes nothing; the
///   other files are still read.
/// - README: `README.md` exactly if present, else the first name equal to
///   it ignoring case; cut at `max_readme_bytes`.
///
/// # Errors
///
/// None: what cannot be read becomes a sentence in
/// [`ModuleMetadata::warnings`].
///
/// # Example
///
/// ```
/// use module_metadata::{extract, ExtractionLimits, SourceFile};
///
/// let files = vec![
///     SourceFile::new("main.tf", r#"
///         variable "instance_type" {
///           type        = string
///           description = "EC2 instance type."
///           default     = "t3.micro"
///         }
///         resource "aws_instance" "web" {
///           instance_type = var.instance_type
///         }
///         output "id" { value = aws_instance.web.id }
///     "#),
///     SourceFile::new("README.md", "# Web\n\nOne [EC2](https://aws.amazon.com/ec2/) instance.\n"),
/// ];
/// let metadata = extract(files, &ExtractionLimits::default());
///
/// let input = &metadata.root.inputs[0];
/// assert_eq!(input.name, "instance_type");
/// assert_eq!(input.r#type, "string");
/// assert_eq!(input.default, "\"t3.micro\"");
/// assert!(!input.required);
/// assert_eq!(metadata.root.outputs[0].name, "id");
/// assert_eq!(metadata.providers(), ["aws"]);
/// assert_eq!(metadata.description().as_deref(), Some("One EC2 instance."));
/// assert!(metadata.warnings.is_empty());
/// ```
pub fn extract(
    files: impl IntoIterator<Item = SourceFile>,
    limits: &ExtractionLimits,
) -> ModuleMetadata {
    let mut warnings = Warnings::new(limits.max_warnings);
    let mut dirs = read_files(files, limits, &mut warnings);

    let root_dir = dirs.remove("").unwrap_or_default();
    let root = build_part("", root_dir, limits, &mut warnings);

    let extra = dirs.len().saturating_sub(limits.max_parts);
    if extra > 0 {
        warnings.push(format!(
            "more than {max} submodules and examples ({} in all); only the first {max} by path were kept",
            dirs.len(),
            max = limits.max_parts,
        ));
    }
    let mut submodules = Vec::new();
    let mut examples = Vec::new();
    for (path, dir) in dirs.into_iter().take(limits.max_parts) {
        let part = build_part(&path, dir, limits, &mut warnings);
        if path.starts_with("modules/") {
            submodules.push(part);
        } else {
            examples.push(part);
        }
    }
    ModuleMetadata {
        root,
        submodules,
        examples,
        warnings: warnings.finish(),
    }
}

/// Takes the wanted files out of `files`, within the file count and byte
/// limits, grouped by directory.
fn read_files(
    files: impl IntoIterator<Item = SourceFile>,
    limits: &ExtractionLimits,
    warnings: &mut Warnings,
) -> BTreeMap<String, Dir> {
    let mut dirs: BTreeMap<String, Dir> = BTreeMap::new();
    let mut count = 0usize;
    let mut total = 0usize;
    for file in files {
        let Some(classified) = paths::classify(&file.path) else {
            continue;
        };
        count += 1;
        if count > limits.max_files {
            warnings.push(format!(
                "more than {} files; the rest were not read",
                limits.max_files
            ));
            break;
        }
        let is_config = classified.kind != FileKind::Readme;
        let counts_as_config = is_config && !paths::is_override(classified.file);
        if is_config && file.contents.len() > limits.max_file_bytes {
            warnings.push(format!(
                "{}: {} bytes is over the limit of {} bytes for one file; skipped",
                file.path,
                file.contents.len(),
                limits.max_file_bytes
            ));
            let dir = dirs.entry(classified.dir.to_owned()).or_default();
            dir.has_config |= counts_as_config;
            continue;
        }
        let size = if is_config {
            file.contents.len()
        } else {
            file.contents.len().min(limits.max_readme_bytes)
        };
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            warnings.push(format!(
                "the files add up to more than {} bytes; {} and the files after it were not read",
                limits.max_total_bytes, file.path
            ));
            break;
        }
        let dir = dirs.entry(classified.dir.to_owned()).or_default();
        let name = classified.file.to_owned();
        let duplicate = if is_config {
            dir.config.contains_key(&name)
        } else {
            dir.readmes.contains_key(&name)
        };
        if duplicate {
            warnings.push(format!(
                "{}: the archive has this path more than once; the first copy was kept",
                file.path
            ));
            continue;
        }
        if is_config {
            dir.has_config |= counts_as_config;
            dir.config.insert(name, (classified.kind, file.contents));
        } else {
            let readme = decode_readme(&file.path, &file.contents, limits, warnings);
            dir.readmes.insert(name, readme);
        }
    }
    dirs
}

/// A README as text, cut at `max_readme_bytes`; invalid UTF-8 is replaced
/// with a warning.
fn decode_readme(
    path: &str,
    bytes: &[u8],
    limits: &ExtractionLimits,
    warnings: &mut Warnings,
) -> String {
    let max = limits.max_readme_bytes;
    let kept = &bytes[..bytes.len().min(max)];
    let mut readme = match std::str::from_utf8(kept) {
        Ok(readme) => readme.to_owned(),
        // Only the cut split a character: drop its start.
        Err(err) if err.error_len().is_none() => {
            String::from_utf8_lossy(&kept[..err.valid_up_to()]).into_owned()
        }
        Err(_) => {
            warnings.push(format!(
                "{path}: not valid UTF-8; invalid bytes were replaced"
            ));
            String::from_utf8_lossy(kept).into_owned()
        }
    };
    text::cut(&mut readme, max);
    if bytes.len() > max {
        warnings.push(format!("{path} was cut at {max} bytes"));
    }
    readme
}

/// Runs the extractors over one directory's files.
fn build_part(
    path: &str,
    mut dir: Dir,
    limits: &ExtractionLimits,
    warnings: &mut Warnings,
) -> ModulePart {
    let readme = dir
        .readmes
        .remove("README.md")
        .or_else(|| dir.readmes.into_values().next())
        .unwrap_or_default();
    let label = part_label(path);
    let mut acc = PartAcc::new(limits);
    for (name, (kind, contents)) in &dir.config {
        if paths::is_override(name)
            || paths::shadowed_by_tofu(name, |other| dir.config.contains_key(other))
        {
            continue;
        }
        let file_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        let mut ctx = FileCtx {
            path: &file_path,
            part: label,
            limits,
            warnings,
        };
        extract_file(*kind, contents, &mut ctx, &mut acc);
    }
    acc.finish(path, readme, !dir.has_config, limits, warnings)
}

/// Checks one configuration file and hands it to its extractor.
fn extract_file(kind: FileKind, contents: &[u8], ctx: &mut FileCtx<'_>, acc: &mut PartAcc) {
    let Ok(src) = std::str::from_utf8(contents) else {
        ctx.warn("not valid UTF-8; skipped");
        return;
    };
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let max = ctx.limits.max_nesting_depth;
    let too_deep = match kind {
        FileKind::Json => scan::json_too_deep(src.as_bytes(), max),
        _ => scan::hcl_too_deep(src, max),
    };
    if too_deep {
        ctx.warn(format_args!("nested deeper than {max} levels; skipped"));
        return;
    }
    match kind {
        FileKind::Json => json::extract(src.as_bytes(), ctx, acc),
        _ => hcl::extract(src, ctx, acc),
    }
}
