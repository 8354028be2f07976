//! Gives every variant of a tagged union its own schema, `<Union><Tag>` (`TargetOnCall`,
//! `BatchOperationRecordSighting`), and the union a `discriminator`: utoipa writes the variants of
//! a tagged enum inline, and client generators would name them `Target0`, `Target1`…

use utoipa::openapi::schema::{Discriminator, Schema};
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// Names every inline variant of every union among the components. Fails when a variant carries
/// no tag to name it by.
pub fn name_union_variants(openapi: &mut OpenApi) -> Result<(), String> {
    let Some(components) = openapi.components.as_mut() else { return Ok(()) };
    let mut named = Vec::new();
    for (union_name, schema) in components.schemas.iter_mut() {
        let RefOr::T(Schema::OneOf(one_of)) = schema else { continue };
        if one_of.items.iter().all(|item| matches!(item, RefOr::Ref(_)) || is_null(item)) {
            continue;
        }
        let mut discriminator: Option<Discriminator> = None;
        for item in one_of.items.iter_mut() {
            if matches!(item, RefOr::Ref(_)) || is_null(item) {
                continue;
            }
            let (property, tag) =
                tag_of(item).ok_or_else(|| format!("{union_name}: a variant without a tag to name it by"))?;
            let variant_name = format!("{union_name}{}", pascal_case(&tag));
            let reference = Ref::from_schema_name(&variant_name);
            let discriminator = discriminator.get_or_insert_with(|| Discriminator::new(property.clone()));
            if discriminator.property_name != property {
                return Err(format!("{union_name}: variants tagged by different properties"));
            }
            discriminator.mapping.insert(tag, reference.ref_location.clone());
            let variant = std::mem::replace(item, RefOr::Ref(reference));
            named.push((variant_name, variant));
        }
        one_of.discriminator = discriminator;
    }
    for (name, variant) in named {
        if components.schemas.insert(name.clone(), variant).is_some() {
            return Err(format!("{name}: a schema of that name exists already"));
        }
    }
    Ok(())
}

/// The property whose schema allows one string only, and that string.
fn tag_of(item: &RefOr<Schema>) -> Option<(String, String)> {
    let objects: Vec<&Schema> = match item {
        RefOr::T(Schema::AllOf(all_of)) => all_of
            .items
            .iter()
            .filter_map(|part| match part {
                RefOr::T(schema) => Some(schema),
                RefOr::Ref(_) => None,
            })
            .collect(),
        RefOr::T(schema) => vec![schema],
        RefOr::Ref(_) => Vec::new(),
    };
    objects.into_iter().find_map(|schema| {
        let Schema::Object(object) = schema else { return None };
        object.properties.iter().find_map(|(name, property)| match property {
            RefOr::T(Schema::Object(property)) => match property.enum_values.as_deref() {
                Some([serde_json::Value::String(tag)]) => Some((name.clone(), tag.clone())),
                _ => None,
            },
            _ => None,
        })
    })
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    use utoipa::openapi::schema::{SchemaType, Type};
    matches!(schema, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null))
}

fn pascal_case(tag: &str) -> String {
    tag.split('_')
        .map(|word| {
            let mut letters = word.chars();
            letters.next().map(|first| first.to_uppercase().chain(letters).collect::<String>()).unwrap_or_default()
        })
        .collect()
}
