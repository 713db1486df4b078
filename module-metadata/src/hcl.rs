//! Extraction from HCL native syntax (`.tf`, `.tofu`) with `hcl-edit`.
//!
//! `hcl-edit` keeps the byte span of every expression, so type constraints
//! and non-literal values are sliced out of the source exactly as written.

use std::collections::BTreeMap;

use hcl_edit::expr::{Expression, Object, ObjectKey, UnaryOperator};
use hcl_edit::structure::{Attribute, Block};
use hcl_edit::template::Element;
use hcl_edit::{Number, Span};
use serde_json::Value;

use crate::acc::{FileCtx, PartAcc};
use crate::model::{Dependency, Input, Output, ProviderDependency, Resource};
use crate::text;

/// Deepest literal value converted; the parser refuses deeper input anyway.
const MAX_VALUE_DEPTH: usize = 128;

/// Reads the blocks of one HCL file into `acc`; a parse error becomes one
/// warning and nothing is read from the file.
pub(crate) fn extract(src: &str, ctx: &mut FileCtx<'_>, acc: &mut PartAcc) {
    let body = match hcl_edit::parser::parse_body(src) {
        Ok(body) => body,
        Err(err) => {
            let at = err.location();
            ctx.warn(format_args!(
                "line {}, column {}: {}",
                at.line(),
                at.column(),
                text::short_message(err.message())
            ));
            return;
        }
    };
    let file = HclFile { src };
    for block in body.blocks() {
        match block.ident.as_str() {
            "variable" => file.variable(ctx, acc, block),
            "output" => file.output(ctx, acc, block),
            "module" => file.module(ctx, acc, block),
            "resource" => file.resource(ctx, acc, block, false),
            "data" => file.resource(ctx, acc, block, true),
            "terraform" => file.terraform(ctx, acc, block),
            _ => {}
        }
    }
}

/// The source of one file, to slice expressions out of.
struct HclFile<'s> {
    src: &'s str,
}

impl HclFile<'_> {
    fn variable(&self, ctx: &mut FileCtx<'_>, acc: &mut PartAcc, block: &Block) {
        let Some([name]) = labels(ctx, block) else {
            return;
        };
        let mut input = Input {
            name: ctx.cap("a variable name", name.to_owned()),
            ..Input::default()
        };
        let what = format!("variable \"{}\"", input.name);
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "type" => {
                    let written = self.written(&attr.value);
                    input.r#type = ctx.cap(format_args!("{what}: type"), written);
                }
                "description" => {
                    input.description = self.string(ctx, &what, attr);
                }
                "default" => {
                    let default = match literal_value(&attr.value, 0) {
                        Some(value) => value.to_string(),
                        None => {
                            ctx.warn(format_args!(
                                "{what}: default is not a literal value; shown as written"
                            ));
                            self.written(&attr.value)
                        }
                    };
                    input.default = ctx.cap(format_args!("{what}: default"), default);
                    input.required = false;
                }
                "sensitive" => input.sensitive = bool_attr(ctx, &what, attr, false),
                "nullable" => input.nullable = bool_attr(ctx, &what, attr, true),
                _ => {}
            }
        }
        ctx.push(&mut acc.inputs, input);
    }

    fn output(&self, ctx: &mut FileCtx<'_>, acc: &mut PartAcc, block: &Block) {
        let Some([name]) = labels(ctx, block) else {
            return;
        };
        let mut output = Output {
            name: ctx.cap("an output name", name.to_owned()),
            ..Output::default()
        };
        let what = format!("output \"{}\"", output.name);
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "description" => output.description = self.string(ctx, &what, attr),
                "sensitive" => output.sensitive = bool_attr(ctx, &what, attr, false),
                _ => {}
            }
        }
        ctx.push(&mut acc.outputs, output);
    }

    fn module(&self, ctx: &mut FileCtx<'_>, acc: &mut PartAcc, block: &Block) {
        let Some([name]) = labels(ctx, block) else {
            return;
        };
        let mut dependency = Dependency {
            name: ctx.cap("a module call name", name.to_owned()),
            ..Dependency::default()
        };
        let what = format!("module \"{}\"", dependency.name);
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "source" => dependency.source = self.string(ctx, &what, attr),
                "version" => dependency.version = self.string(ctx, &what, attr),
                _ => {}
            }
        }
        ctx.push(&mut acc.dependencies, dependency);
    }

    fn resource(&self, ctx: &mut FileCtx<'_>, acc: &mut PartAcc, block: &Block, data: bool) {
        let Some([kind, name]) = labels(ctx, block) else {
            return;
        };
        let resource = Resource {
            name: ctx.cap("a resource name", name.to_owned()),
            r#type: ctx.cap("a resource type", kind.to_owned()),
        };
        let list = if data {
            &mut acc.data_resources
        } else {
            &mut acc.resources
        };
        ctx.push(list, resource);
    }

    fn terraform(&self, ctx: &mut FileCtx<'_>, acc: &mut PartAcc, block: &Block) {
        if let Some(attr) = block.body.get_attribute("required_version") {
            let constraint = self.string(ctx, "terraform", attr);
            acc.push_required_version(ctx, constraint);
        }
        for providers in block.body.get_blocks("required_providers") {
            for attr in providers.body.attributes() {
                if let Some(dependency) = self.required_provider(ctx, attr) {
                    ctx.push(&mut acc.provider_dependencies, dependency);
                }
            }
        }
    }

    fn required_provider(
        &self,
        ctx: &mut FileCtx<'_>,
        attr: &Attribute,
    ) -> Option<ProviderDependency> {
        let name = ctx.cap("a required provider name", attr.key.as_str().to_owned());
        let what = format!("required provider \"{name}\"");
        let (source, version) = match unparenthesize(&attr.value) {
            Expression::Object(object) => {
                let mut field = |key: &str| match object_get(object, key) {
                    None => String::new(),
                    Some(expr) => self.string_expr(ctx, &format!("{what}: {key}"), expr),
                };
                (field("source"), field("version"))
            }
            other => match literal_string(other) {
                Some(version) => (String::new(), version),
                None => {
                    ctx.warn(format_args!(
                        "{what} is neither an object nor a version string; skipped"
                    ));
                    return None;
                }
            },
        };
        let source = ctx.cap(format_args!("{what}: source"), source);
        let version = ctx.cap(format_args!("{what}: version"), version);
        Some(ProviderDependency::from_source(name, source, version))
    }

    /// The attribute's value as a string: a literal's value, else its
    /// source text with a warning. Cut to `max_string_bytes`.
    fn string(&self, ctx: &mut FileCtx<'_>, what: &str, attr: &Attribute) -> String {
        let what = format!("{what}: {}", attr.key.as_str());
        self.string_expr(ctx, &what, &attr.value)
    }

    fn string_expr(&self, ctx: &mut FileCtx<'_>, what: &str, expr: &Expression) -> String {
        let value = match literal_string(expr) {
            Some(value) => value,
            None => {
                ctx.warn(format_args!(
                    "{what} is not a literal string; shown as written"
                ));
                self.written(expr)
            }
        };
        ctx.cap(what, value)
    }

    /// The expression's source text as written, whitespace trimmed.
    fn written(&self, expr: &Expression) -> String {
        match expr.span().and_then(|span| self.src.get(span)) {
            Some(written) => written.trim().to_owned(),
            None => expr.to_string().trim().to_owned(),
        }
    }
}

/// The block's labels when there are exactly `N`; else a warning and
/// `None`.
fn labels<'b, const N: usize>(ctx: &mut FileCtx<'_>, block: &'b Block) -> Option<[&'b str; N]> {
    if block.labels.len() == N {
        let mut labels = [""; N];
        for (slot, label) in labels.iter_mut().zip(&block.labels) {
            *slot = label.as_str();
        }
        Some(labels)
    } else {
        let noun = if N == 1 { "label" } else { "labels" };
        ctx.warn(format_args!(
            "a {} block with {} labels instead of {N} {noun} was skipped",
            block.ident.as_str(),
            block.labels.len()
        ));
        None
    }
}

/// A boolean attribute's value; `default` with a warning when it is not a
/// literal boolean.
fn bool_attr(ctx: &mut FileCtx<'_>, what: &str, attr: &Attribute, default: bool) -> bool {
    match unparenthesize(&attr.value) {
        Expression::Bool(value) => *value.value(),
        _ => {
            ctx.warn(format_args!(
                "{what}: {} is not a literal bool; {default} assumed",
                attr.key.as_str()
            ));
            default
        }
    }
}

/// The expression inside any number of parentheses.
fn unparenthesize(mut expr: &Expression) -> &Expression {
    while let Expression::Parenthesis(inner) = expr {
        expr = inner.inner();
    }
    expr
}

/// The value of a string literal, a template or heredoc without
/// interpolations or directives (heredocs `<<-` already dedented by the
/// parser), in parentheses or not; `None` for anything else.
fn literal_string(expr: &Expression) -> Option<String> {
    let literal = |elements: &mut dyn Iterator<Item = &Element>| {
        let mut value = String::new();
        for element in elements {
            match element {
                Element::Literal(literal) => value.push_str(literal.value()),
                _ => return None,
            }
        }
        Some(value)
    };
    match unparenthesize(expr) {
        Expression::String(value) => Some(value.value().clone()),
        Expression::StringTemplate(template) => literal(&mut template.into_iter()),
        Expression::HeredocTemplate(heredoc) => literal(&mut heredoc.template.iter()),
        _ => None,
    }
}

/// The entry `key` of an object constructor (`{ key = ... }` or
/// `{ "key" = ... }`).
fn object_get<'o>(object: &'o Object, key: &str) -> Option<&'o Expression> {
    object.iter().find_map(|(k, v)| {
        let matches = match k {
            ObjectKey::Ident(ident) => ident.as_str() == key,
            ObjectKey::Expression(expr) => literal_string(expr).is_some_and(|k| k == key),
        };
        matches.then(|| v.expr())
    })
}

/// The JSON value of a literal expression (object keys sorted), `None`
/// when the expression refers to anything or calls anything.
fn literal_value(expr: &Expression, depth: usize) -> Option<Value> {
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    Some(match unparenthesize(expr) {
        Expression::Null(_) => Value::Null,
        Expression::Bool(value) => Value::Bool(*value.value()),
        Expression::Number(number) => number_value(number.value())?,
        Expression::Array(array) => Value::Array(
            array
                .iter()
                .map(|item| literal_value(item, depth + 1))
                .collect::<Option<_>>()?,
        ),
        Expression::Object(object) => {
            let mut entries = BTreeMap::new();
            for (key, value) in object.iter() {
                let key = match key {
                    ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                    ObjectKey::Expression(expr) => literal_string(expr)?,
                };
                entries.insert(key, literal_value(value.expr(), depth + 1)?);
            }
            Value::Object(entries.into_iter().collect())
        }
        Expression::UnaryOp(op) if *op.operator.value() == UnaryOperator::Neg => {
            match unparenthesize(&op.expr) {
                Expression::Number(number) => negate(number.value())?,
                _ => return None,
            }
        }
        other => Value::String(literal_string(other)?),
    })
}

/// A number as JSON: integral values as integers, like Terraform shows them.
fn number_value(number: &Number) -> Option<Value> {
    if let Some(n) = number.as_u64() {
        return Some(n.into());
    }
    if let Some(n) = number.as_i64() {
        return Some(n.into());
    }
    float_value(number.as_f64()?)
}

fn float_value(f: f64) -> Option<Value> {
    /// 2^53: every integer up to here is exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() <= EXACT {
        // In range and integral, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        return Some((f as i64).into());
    }
    serde_json::Number::from_f64(f).map(Value::Number)
}

fn negate(number: &Number) -> Option<Value> {
    if let Some(n) = number.as_i64().and_then(i64::checked_neg) {
        return Some(n.into());
    }
    float_value(-number.as_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_of(src: &str) -> Option<String> {
        let body = hcl_edit::parser::parse_body(&format!("x = {src}\n")).unwrap();
        let attr = body.get_attribute("x").unwrap();
        literal_value(&attr.value, 0).map(|v| v.to_string())
    }

    #[test]
    fn literal_defaults_as_json() {
        assert_eq!(default_of("\"t3.micro\"").as_deref(), Some("\"t3.micro\""));
        assert_eq!(default_of("3").as_deref(), Some("3"));
        assert_eq!(default_of("-3").as_deref(), Some("-3"));
        assert_eq!(default_of("1.5").as_deref(), Some("1.5"));
        assert_eq!(default_of("1e3").as_deref(), Some("1000"));
        assert_eq!(default_of("true").as_deref(), Some("true"));
        assert_eq!(default_of("null").as_deref(), Some("null"));
        assert_eq!(default_of("[]").as_deref(), Some("[]"));
        assert_eq!(
            default_of("{ b = [1, \"x\"], \"a\" = { c = null } }").as_deref(),
            Some(r#"{"a":{"c":null},"b":[1,"x"]}"#)
        );
        assert_eq!(default_of("(\"p\")").as_deref(), Some("\"p\""));
        assert_eq!(default_of("\"a $${b}\"").as_deref(), Some("\"a ${b}\""));
        assert_eq!(
            default_of("<<-EOT\n  one\n    two\n  EOT").as_deref(),
            Some("\"one\\n  two\\n\"")
        );
    }

    #[test]
    fn non_literals_are_refused() {
        for src in [
            "var.x",
            "\"${var.x}\"",
            "upper(\"a\")",
            "[local.a]",
            "{ (var.k) = 1 }",
            "1 + 2",
            "!true",
        ] {
            assert_eq!(default_of(src), None, "{src}");
        }
    }
}
