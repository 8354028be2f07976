//! The validation rules of the wire types, as the OpenAPI document declares them.
//!
//! `build.rs` reads every `#[validate(...)]` attribute of a `ToSchema` or `IntoParams` struct into
//! [`FIELD_RULES`]; [`apply_to_schemas`] writes each into the component schema's property
//! (`minLength`/`maxLength`, `minItems`/`maxItems`, `minimum`/`maximum`, `format`), and
//! [`apply_to_parameters`] into the query parameters of every operation that takes the struct.
//! Changing a rule changes the document; no limit is written twice.

use utoipa::Number;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// What carries the field: a component schema, or a struct of query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Schema,
    Parameters,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Characters of a text, or items of a list.
    Length {
        min: Option<u64>,
        max: Option<u64>,
    },
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    Url,
    Email,
}

/// One `#[validate(...)]` rule of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldRule {
    pub holder: Holder,
    /// The schema's (the struct's) name.
    pub name: &'static str,
    /// The field's name on the wire.
    pub field: &'static str,
    pub rule: Rule,
}

/// Every rule of every wire type, read from the source by `build.rs`.
pub const FIELD_RULES: &[FieldRule] = include!(concat!(env!("OUT_DIR"), "/field_rules.rs"));

/// Every query parameter struct, and all its parameters.
pub const PARAMETER_STRUCTS: &[(&str, &[&str])] = include!(concat!(env!("OUT_DIR"), "/parameter_structs.rs"));

/// Writes every schema field's rule into its component schema. Fails, naming the rule, when the
/// schema or property is missing or has a shape a rule cannot be written into.
pub fn apply_to_schemas(openapi: &mut OpenApi) -> Result<(), String> {
    let Some(components) = openapi.components.as_mut() else { return Err("no components".to_owned()) };
    for rule in FIELD_RULES.iter().filter(|rule| rule.holder == Holder::Schema) {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(rule.name) else {
            return Err(format!("{}: no object schema of that name", rule.name));
        };
        let Some(property) = object.properties.get_mut(rule.field) else {
            return Err(format!("{}.{}: no such property", rule.name, rule.field));
        };
        apply(property, rule.rule).map_err(|e| format!("{}.{}: {e}", rule.name, rule.field))?;
    }
    Ok(())
}

/// Writes the rules of query parameter structs into the operations that take them: an operation
/// takes a struct when its query parameters are exactly the struct's fields. So two structs may
/// not have the same fields when one has rules: an operation could not be told to take one.
pub fn apply_to_parameters(openapi: &mut OpenApi) -> Result<(), String> {
    for rule in FIELD_RULES.iter().filter(|rule| rule.holder == Holder::Parameters) {
        let (_, fields) = PARAMETER_STRUCTS
            .iter()
            .find(|(name, _)| *name == rule.name)
            .ok_or_else(|| format!("{}: unknown parameter struct", rule.name))?;
        if let Some((twin, _)) =
            PARAMETER_STRUCTS.iter().find(|(name, other)| *name != rule.name && same(fields, other))
        {
            return Err(format!("{} and {twin} have the same parameters: give each operation its own", rule.name));
        }
        let mut applied = 0;
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let Some(parameters) = operation.parameters.as_mut() else { continue };
                let query: Vec<&str> = parameters
                    .iter()
                    .filter_map(|p| match p {
                        RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.as_str()),
                        _ => None,
                    })
                    .collect();
                if !same(fields, &query) {
                    continue;
                }
                let Some(RefOr::T(parameter)) =
                    parameters.iter_mut().find(|p| matches!(p, RefOr::T(p) if p.name == rule.field))
                else {
                    continue;
                };
                apply_to_parameter(parameter, rule.rule).map_err(|e| format!("{}.{}: {e}", rule.name, rule.field))?;
                applied += 1;
            }
        }
        if applied == 0 {
            return Err(format!("{}.{}: no operation takes these parameters", rule.name, rule.field));
        }
    }
    Ok(())
}

/// Whether two lists of parameter names hold the same names.
pub fn same(these: &[&str], those: &[&str]) -> bool {
    these.len() == those.len() && these.iter().all(|name| those.contains(name))
}

fn apply_to_parameter(parameter: &mut Parameter, rule: Rule) -> Result<(), String> {
    let schema = parameter.schema.as_mut().ok_or("parameter without a schema")?;
    apply(schema, rule)
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [item.get.as_mut(), item.put.as_mut(), item.post.as_mut(), item.delete.as_mut(), item.patch.as_mut()]
        .into_iter()
        .flatten()
}

fn apply(schema: &mut RefOr<Schema>, rule: Rule) -> Result<(), String> {
    match schema {
        RefOr::T(Schema::Object(object)) => {
            let types = types_of(&object.schema_type);
            match rule {
                Rule::Length { min, max } if types.contains(&Type::String) => {
                    object.min_length = min.map(to_usize);
                    object.max_length = max.map(to_usize);
                }
                Rule::Range { min, max } if types.iter().any(|t| matches!(t, Type::Integer | Type::Number)) => {
                    let integer = types.contains(&Type::Integer);
                    object.minimum = min.map(|m| number(m, integer));
                    object.maximum = max.map(|m| number(m, integer));
                }
                Rule::Url if types.contains(&Type::String) => {
                    object.format = Some(SchemaFormat::Custom("uri".to_owned()));
                }
                Rule::Email if types.contains(&Type::String) => {
                    object.format = Some(SchemaFormat::Custom("email".to_owned()));
                }
                other => return Err(format!("{other:?} does not fit a schema of {} types", types.len())),
            }
        }
        RefOr::T(Schema::Array(array)) => match rule {
            Rule::Length { min, max } => {
                array.min_items = min.map(to_usize);
                array.max_items = max.map(to_usize);
            }
            other => return Err(format!("{other:?} does not fit a list")),
        },
        // `Option<T>` of a named type: the rule is about the value when there is one.
        RefOr::T(Schema::OneOf(one_of)) => {
            let mut values = one_of.items.iter_mut().filter(|item| !is_null(item));
            match (values.next(), values.next()) {
                (Some(value), None) => apply(value, rule)?,
                _ => return Err("a union of several values".to_owned()),
            }
        }
        _ => return Err("a schema shape no rule is written into".to_owned()),
    }
    Ok(())
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null))
}

fn types_of(schema_type: &SchemaType) -> Vec<Type> {
    match schema_type {
        SchemaType::Type(single) => vec![single.clone()],
        SchemaType::Array(several) => several.clone(),
        SchemaType::AnyValue => Vec::new(),
    }
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn number(value: f64, integer: bool) -> Number {
    if integer && value.fract() == 0.0 { Number::Int(value as isize) } else { Number::Float(value) }
}
