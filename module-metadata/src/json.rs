//! Extraction from Terraform's JSON syntax (`.tf.json`, `.tofu.json`).
//!
//! A block type maps to an object of labels, each to a body object:
//! `{"variable": {"name": {...}}}`. The forms Terraform also accepts are read
//! too: an array of such objects at any level (`{"variable": [{"a": {...}},
//! {"b": {...}}]}`, `{"variable": {"a": [{...}]}}`). `"//"` keys are
//! comments and skipped.

use serde_json::{Map, Value};

use crate::acc::{FileCtx, PartAcc};
use crate::model::{Dependency, Input, Output, ProviderDependency, Resource};
use crate::text;

/// Reads one JSON file into `acc`; a parse error becomes one warning.
pub(crate) fn extract(src: &[u8], ctx: &mut FileCtx<'_>, acc: &mut PartAcc) {
    let value: Value = match serde_json::from_slice(src) {
        Ok(value) => value,
        Err(err) => {
            let message = err.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(message, _)| message);
            ctx.warn(format_args!(
                "line {}, column {}: {}",
                err.line(),
                err.column(),
                text::short_message(message)
            ));
            return;
        }
    };
    let Value::Object(top) = value else {
        ctx.warn("the top level is not a JSON object; nothing was read");
        return;
    };
    for (block_type, value) in &top {
        match block_type.as_str() {
            "variable" => {
                for (name, body) in labeled(ctx, block_type, value) {
                    variable(ctx, acc, name, body);
                }
            }
            "output" => {
                for (name, body) in labeled(ctx, block_type, value) {
                    output(ctx, acc, name, body);
                }
            }
            "module" => {
                for (name, body) in labeled(ctx, block_type, value) {
                    module(ctx, acc, name, body);
                }
            }
            "resource" | "data" => {
                for (kind, inner) in entries(ctx, block_type, value) {
                    for (name, _) in labeled(ctx, block_type, inner) {
                        let resource = Resource {
                            name: ctx.cap("a resource name", name.to_owned()),
                            r#type: ctx.cap("a resource type", kind.to_owned()),
                        };
                        let list = if block_type == "data" {
                            &mut acc.data_resources
                        } else {
                            &mut acc.resources
                        };
                        ctx.push(list, resource);
                    }
                }
            }
            "terraform" => {
                for body in bodies(ctx, block_type, value) {
                    terraform(ctx, acc, body);
                }
            }
            _ => {}
        }
    }
}

/// `(label, value)` pairs of an object, or of each object in an array,
/// skipping `"//"` comments.
fn entries<'v>(ctx: &mut FileCtx<'_>, what: &str, value: &'v Value) -> Vec<(&'v str, &'v Value)> {
    let mut out = Vec::new();
    let objects: Vec<&Map<String, Value>> = match value {
        Value::Object(object) => vec![object],
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        _ => {
            ctx.warn(format_args!("\"{what}\" is not an object; skipped"));
            return out;
        }
    };
    for object in objects {
        out.extend(
            object
                .iter()
                .filter(|(key, _)| key.as_str() != "//")
                .map(|(key, value)| (key.as_str(), value)),
        );
    }
    out
}

/// The body objects of a value: the object itself, or each object of an
/// array.
fn bodies<'v>(ctx: &mut FileCtx<'_>, what: &str, value: &'v Value) -> Vec<&'v Map<String, Value>> {
    match value {
        Value::Object(object) => vec![object],
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        _ => {
            ctx.warn(format_args!("a \"{what}\" body is not an object; skipped"));
            Vec::new()
        }
    }
}

/// `(label, body)` pairs of a block type with one (more) label.
fn labeled<'v>(
    ctx: &mut FileCtx<'_>,
    what: &str,
    value: &'v Value,
) -> Vec<(&'v str, &'v Map<String, Value>)> {
    let mut out = Vec::new();
    for (label, inner) in entries(ctx, what, value) {
        for body in bodies(ctx, what, inner) {
            out.push((label, body));
        }
    }
    out
}

fn variable(ctx: &mut FileCtx<'_>, acc: &mut PartAcc, name: &str, body: &Map<String, Value>) {
    let mut input = Input {
        name: ctx.cap("a variable name", name.to_owned()),
        ..Input::default()
    };
    let what = format!("variable \"{}\"", input.name);
    for (key, value) in body {
        match key.as_str() {
            "type" => {
                let written = match value {
                    Value::String(written) => written.trim().to_owned(),
                    other => {
                        ctx.warn(format_args!("{what}: type is not a string; shown as JSON"));
                        canonical(other).to_string()
                    }
                };
                input.r#type = ctx.cap(format_args!("{what}: type"), written);
            }
            "description" => input.description = string(ctx, &what, key, value),
            "default" => {
                let default = canonical(value).to_string();
                input.default = ctx.cap(format_args!("{what}: default"), default);
                input.required = false;
            }
            "sensitive" => input.sensitive = boolean(ctx, &what, key, value, false),
            "nullable" => input.nullable = boolean(ctx, &what, key, value, true),
            _ => {}
        }
    }
    ctx.push(&mut acc.inputs, input);
}

fn output(ctx: &mut FileCtx<'_>, acc: &mut PartAcc, name: &str, body: &Map<String, Value>) {
    let mut output = Output {
        name: ctx.cap("an output name", name.to_owned()),
        ..Output::default()
    };
    let what = format!("output \"{}\"", output.name);
    for (key, value) in body {
        match key.as_str() {
            "description" => output.description = string(ctx, &what, key, value),
            "sensitive" => output.sensitive = boolean(ctx, &what, key, value, false),
            _ => {}
        }
    }
    ctx.push(&mut acc.outputs, output);
}

fn module(ctx: &mut FileCtx<'_>, acc: &mut PartAcc, name: &str, body: &Map<String, Value>) {
    let mut dependency = Dependency {
        name: ctx.cap("a module call name", name.to_owned()),
        ..Dependency::default()
    };
    let what = format!("module \"{}\"", dependency.name);
    for (key, value) in body {
        match key.as_str() {
            "source" => dependency.source = string(ctx, &what, key, value),
            "version" => dependency.version = string(ctx, &what, key, value),
            _ => {}
        }
    }
    ctx.push(&mut acc.dependencies, dependency);
}

fn terraform(ctx: &mut FileCtx<'_>, acc: &mut PartAcc, body: &Map<String, Value>) {
    if let Some(value) = body.get("required_version") {
        let constraint = string(ctx, "terraform", "required_version", value);
        acc.push_required_version(ctx, constraint);
    }
    let Some(providers) = body.get("required_providers") else {
        return;
    };
    for (name, value) in entries(ctx, "required_providers", providers) {
        let name = ctx.cap("a required provider name", name.to_owned());
        let what = format!("required provider \"{name}\"");
        let (source, version) = match value {
            Value::String(version) => (
                String::new(),
                ctx.cap(format_args!("{what}: version"), version.clone()),
            ),
            Value::Object(object) => {
                let mut field = |key: &str| {
                    object
                        .get(key)
                        .map_or_else(String::new, |value| string(ctx, &what, key, value))
                };
                (field("source"), field("version"))
            }
            _ => {
                ctx.warn(format_args!(
                    "{what} is neither an object nor a version string; skipped"
                ));
                continue;
            }
        };
        let dependency = ProviderDependency::from_source(name, source, version);
        ctx.push(&mut acc.provider_dependencies, dependency);
    }
}

/// A string field; other JSON is shown as JSON with a warning.
fn string(ctx: &mut FileCtx<'_>, what: &str, key: &str, value: &Value) -> String {
    let value = match value {
        Value::String(value) => value.clone(),
        other => {
            ctx.warn(format_args!("{what}: {key} is not a string; shown as JSON"));
            canonical(other).to_string()
        }
    };
    ctx.cap(format_args!("{what}: {key}"), value)
}

/// A boolean field; `default` with a warning when it is not a boolean.
fn boolean(ctx: &mut FileCtx<'_>, what: &str, key: &str, value: &Value, default: bool) -> bool {
    if let Value::Bool(value) = value {
        *value
    } else {
        ctx.warn(format_args!(
            "{what}: {key} is not a bool; {default} assumed"
        ));
        default
    }
}

/// `value` with object keys sorted, whatever order `serde_json` keeps.
/// Recursion is bounded by `serde_json`'s own recursion limit of 128.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(object) => {
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), canonical(value)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}
