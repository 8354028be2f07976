//! Reads the `#[validate(...)]` attributes of the wire types and writes them out as a table, so
//! the OpenAPI document declares exactly the limits the server enforces (`src/schema_rules.rs`
//! applies the table). A rule the table cannot express stops the build rather than going
//! unpublished.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let src = Path::new("src");
    println!("cargo::rerun-if-changed=src");
    let mut files: Vec<_> = std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("src: {e}"))
        .map(|entry| entry.unwrap_or_else(|e| panic!("src: {e}")).path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();

    let mut rows = String::new();
    let mut parameter_structs = String::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for item in file.items {
            if let syn::Item::Struct(item) = item {
                rows_of_struct(&item, &mut rows);
                if derived(&item.attrs).iter().any(|d| d == "IntoParams") {
                    let syn::Fields::Named(fields) = &item.fields else { continue };
                    let names: Vec<String> = fields.named.iter().filter_map(wire_name).collect();
                    let _ = writeln!(parameter_structs, "    ({:?}, &{names:?}),", item.ident.to_string());
                }
            }
        }
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"))).join("field_rules.rs");
    std::fs::write(&out, format!("&[\n{rows}]\n")).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let out = out.with_file_name("parameter_structs.rs");
    std::fs::write(&out, format!("&[\n{parameter_structs}]\n")).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

fn rows_of_struct(item: &syn::ItemStruct, rows: &mut String) {
    let derives = derived(&item.attrs);
    let kind = if derives.iter().any(|d| d == "ToSchema") {
        "Holder::Schema"
    } else if derives.iter().any(|d| d == "IntoParams") {
        "Holder::Parameters"
    } else {
        return;
    };
    if let Some(rename_all) = serde_value(&item.attrs, "rename_all") {
        assert!(rename_all == "snake_case", "{}: rename_all = {rename_all} is not supported here", item.ident);
    }
    let syn::Fields::Named(fields) = &item.fields else { return };
    for field in &fields.named {
        let (Some(ident), Some(wire_name)) = (&field.ident, wire_name(field)) else { continue };
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("validate")) {
            attr.parse_nested_meta(|rule| {
                let name = rule.path.get_ident().map(ToString::to_string).unwrap_or_default();
                let rule_text = match name.as_str() {
                    "nested" => return Ok(()),
                    "length" => {
                        let (min, max, equal) = bounds(&rule)?;
                        let (min, max) = if equal.is_some() { (equal.clone(), equal) } else { (min, max) };
                        format!("Rule::Length {{ min: {}, max: {} }}", option(min, "u64"), option(max, "u64"))
                    }
                    "range" => {
                        let (min, max, _) = bounds(&rule)?;
                        format!("Rule::Range {{ min: {}, max: {} }}", option(min, "f64"), option(max, "f64"))
                    }
                    "url" => "Rule::Url".to_owned(),
                    "email" => "Rule::Email".to_owned(),
                    other => panic!(
                        "{}.{ident}: validate({other}) has no schema counterpart in build.rs; add one",
                        item.ident
                    ),
                };
                let _ = writeln!(
                    rows,
                    "    FieldRule {{ holder: {kind}, name: {:?}, field: {:?}, rule: {rule_text} }},",
                    item.ident.to_string(),
                    wire_name
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}.{ident}: {e}", item.ident));
        }
    }
}

fn wire_name(field: &syn::Field) -> Option<String> {
    use syn::ext::IdentExt as _;
    let ident = field.ident.as_ref()?;
    Some(serde_value(&field.attrs, "rename").unwrap_or_else(|| ident.unraw().to_string()))
}

/// `min`, `max` and `equal` of a `length(...)` or `range(...)` rule, as literal text.
fn bounds(rule: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<(Option<String>, Option<String>, Option<String>)> {
    let (mut min, mut max, mut equal) = (None, None, None);
    rule.parse_nested_meta(|bound| {
        let value: syn::Expr = bound.value()?.parse()?;
        let text = literal_number(&value)
            .ok_or_else(|| bound.error("a limit must be a number literal, so the document can state it"))?;
        if bound.path.is_ident("min") {
            min = Some(text);
        } else if bound.path.is_ident("max") {
            max = Some(text);
        } else if bound.path.is_ident("equal") {
            equal = Some(text);
        } else {
            return Err(bound.error("unknown bound"));
        }
        Ok(())
    })?;
    Ok((min, max, equal))
}

fn literal_number(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(int), .. }) => Some(int.base10_digits().to_owned()),
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Float(float), .. }) => Some(float.base10_digits().to_owned()),
        syn::Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => {
            literal_number(expr).map(|digits| format!("-{digits}"))
        }
        _ => None,
    }
}

fn option(value: Option<String>, ty: &str) -> String {
    match value {
        Some(digits) if ty == "f64" && !digits.contains('.') => format!("Some({digits}.0)"),
        Some(digits) => format!("Some({digits})"),
        None => "None".to_owned(),
    }
}

fn derived(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut names = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = attr.parse_nested_meta(|meta| {
            if let Some(last) = meta.path.segments.last() {
                names.push(last.ident.to_string());
            }
            Ok(())
        });
    }
    names
}

/// The string value of `#[serde(key = "...")]`, if any.
fn serde_value(attrs: &[syn::Attribute], key: &str) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                let value: syn::LitStr = meta.value()?.parse()?;
                found = Some(value.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|_| Ok(()));
            }
            Ok(())
        });
    }
    found
}
