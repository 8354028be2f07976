//! The module graph of `api/src` has no cycle between two top-level modules: a capability may
//! use another (profiles use identifications, referrals use profiles) but not the other way
//! round as well, and nothing below the top (`lib.rs`, `main.rs`, `app.rs`, `cli.rs`,
//! `openapi.rs`, which assemble everything) imports the top.
//!
//! Each file's `use crate::…`, `crate::x::…`, `super::…` and `self::…` paths (and `use child::…`
//! in a module's own file) are resolved to the file that defines the module they name; comments,
//! string literals and `#[cfg(test)] mod … { … }` blocks are left out, and `mod x;` declarations
//! are not dependencies. The strongly connected components of that file graph (Tarjan) must each
//! stay within one top-level module.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on an unreadable source tree")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that assemble the service: they may import everything, nothing may import them.
const TOP: [&str; 5] = ["lib.rs", "main.rs", "app.rs", "cli.rs", "openapi.rs"];

#[test]
fn no_cycle_spans_two_top_level_modules_and_nothing_imports_the_top() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::of_tree(&src);
    assert!(graph.files.len() > 50, "found only {} files under {}", graph.files.len(), src.display());
    let mut problems = Vec::new();
    for cycle in graph.cross_module_cycles() {
        problems.push(format!("cycle between top-level modules:\n{}", graph.describe(&cycle)));
    }
    for (from, to) in graph.edges_into_top() {
        problems.push(format!("{from} imports {to}, which assembles the service and may not be imported"));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

/// A file graph: files by their path under `src`, edges as indices.
struct Graph {
    files: Vec<String>,
    edges: Vec<BTreeSet<usize>>,
}

impl Graph {
    fn of_tree(src: &Path) -> Graph {
        let mut paths = Vec::new();
        collect_rs(src, &mut paths);
        paths.sort();
        let files: Vec<String> =
            paths.iter().map(|p| p.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/")).collect();
        let modules: BTreeMap<Vec<String>, usize> =
            files.iter().enumerate().filter_map(|(i, f)| module_path(f).map(|m| (m, i))).collect();
        let mut edges = vec![BTreeSet::new(); files.len()];
        for (i, (path, file)) in paths.iter().zip(&files).enumerate() {
            let Some(me) = module_path(file) else { continue };
            let text = std::fs::read_to_string(path).unwrap();
            let children: BTreeSet<String> = modules
                .keys()
                .filter(|m| m.len() == me.len() + 1 && m.starts_with(&me))
                .map(|m| m[me.len()].clone())
                .collect();
            for target in paths_used(&strip(&text), &me, &children) {
                if let Some(j) = resolve(&modules, &target)
                    && j != i
                {
                    edges[i].insert(j);
                }
            }
        }
        Graph { files, edges }
    }

    /// Strongly connected components with more than one file whose files belong to more than
    /// one top-level module.
    fn cross_module_cycles(&self) -> Vec<Vec<usize>> {
        strongly_connected(&self.edges)
            .into_iter()
            .filter(|c| c.iter().map(|&f| top_module(&self.files[f])).collect::<BTreeSet<_>>().len() > 1)
            .collect()
    }

    /// Imports of a top file by a file that is not one.
    fn edges_into_top(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (from, targets) in self.edges.iter().enumerate() {
            for &to in targets {
                if is_top(&self.files[to]) && !is_top(&self.files[from]) {
                    found.push((self.files[from].clone(), self.files[to].clone()));
                }
            }
        }
        found
    }

    /// The files of a component and its edges that cross from one top-level module to another.
    fn describe(&self, component: &[usize]) -> String {
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let mut lines: Vec<String> = members.iter().map(|&f| format!("  {}", self.files[f])).collect();
        for &from in &members {
            for &to in self.edges[from].intersection(&members) {
                if top_module(&self.files[from]) != top_module(&self.files[to]) {
                    lines.push(format!("  edge {} -> {}", self.files[from], self.files[to]));
                }
            }
        }
        lines.join("\n")
    }
}

fn collect_rs(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The module a file defines (`profiles/service.rs` → `[profiles, service]`, `lib.rs` → `[]`);
/// `main.rs` is its own crate and defines no module of this one.
fn module_path(file: &str) -> Option<Vec<String>> {
    if file == "main.rs" {
        return Some(vec!["<main>".into()]);
    }
    if file == "lib.rs" {
        return Some(Vec::new());
    }
    let mut segments: Vec<String> = file.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    Some(segments)
}

/// The first segment under `src` (`profiles`, `audit`), or `lib`/`main` for the crate roots.
fn top_module(file: &str) -> String {
    file.split('/').next().unwrap().trim_end_matches(".rs").to_owned()
}

fn is_top(file: &str) -> bool {
    TOP.contains(&file)
}

/// The file that defines the longest module prefix of an absolute path.
fn resolve(modules: &BTreeMap<Vec<String>, usize>, path: &[String]) -> Option<usize> {
    (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]).copied())
}

/// Source without comments, string and char literals, and `#[cfg(test)] mod … { … }` blocks.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&chars, i) {
            // Raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): only the former closes.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    remove_test_modules(&out)
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Removes `#[cfg(test)] (pub(…))? mod name { … }` from comment- and string-free source.
fn remove_test_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let tokens: Vec<&str> = after.split_whitespace().take(3).collect();
        let is_mod = tokens.first().is_some_and(|t| *t == "mod" || t.starts_with("pub"))
            && tokens.iter().take(2).any(|t| *t == "mod");
        let brace = after.find(['{', ';']);
        match (is_mod, brace) {
            (true, Some(open)) if after.as_bytes()[open] == b'{' => {
                let mut depth = 0;
                let mut end = after.len();
                for (k, ch) in after[open..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            _ => {
                out.push_str("#[cfg(test)]");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Other,
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token::Ident(word.trim_start_matches('$').to_owned()));
            continue;
        }
        match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                out.push(Token::PathSep);
                i += 2;
                continue;
            }
            '{' => out.push(Token::Open),
            '}' => out.push(Token::Close),
            ',' => out.push(Token::Comma),
            ';' => out.push(Token::Semi),
            c if c.is_whitespace() => {}
            _ => out.push(Token::Other),
        }
        i += 1;
    }
    out
}

/// Every absolute module path the (stripped) source of module `me` names through `crate`,
/// `super` or `self`, or through `use child::…` for one of its child modules.
fn paths_used(text: &str, me: &[String], children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let tokens = tokens(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let after_sep = i > 0 && tokens[i - 1] == Token::PathSep;
        let starts = match &tokens[i] {
            Token::Ident(w) if !after_sep && tokens.get(i + 1) == Some(&Token::PathSep) => {
                ["crate", "super", "self"].contains(&w.as_str())
                    || (children.contains(w) && i > 0 && tokens[i - 1] == Token::Ident("use".into()))
            }
            _ => false,
        };
        if starts {
            let mut paths = Vec::new();
            i = path_tree(&tokens, i, Vec::new(), &mut paths);
            for path in paths {
                if let Some(absolute) = absolute(me, &path) {
                    found.push(absolute);
                }
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Reads a path (with `{…}` groups, as in `use`) from `tokens[i]` onward, pushing each full path
/// (prefix + segments); returns the index after it.
fn path_tree(tokens: &[Token], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    loop {
        match tokens.get(i) {
            Some(Token::Ident(w)) => {
                path.push(w.clone());
                i += 1;
            }
            Some(Token::Open) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some(Token::Close) => return i + 1,
                        Some(Token::Comma) => i += 1,
                        None => return i,
                        _ => {
                            let before = i;
                            i = path_tree(tokens, i, path.clone(), out);
                            if i == before {
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => {
                out.push(path);
                return i;
            }
        }
        if tokens.get(i) == Some(&Token::PathSep) {
            i += 1;
        } else {
            // `self` inside a group names the group's module itself.
            if path.last().is_some_and(|s| s == "self") && path.len() > 1 {
                path.pop();
            }
            out.push(path);
            // `x as y`: the path is `x`.
            if tokens.get(i) == Some(&Token::Ident("as".into())) {
                i += 2;
            }
            return i;
        }
    }
}

/// A path as module segments from the crate root, resolving `crate`, `super`, `self` and a
/// leading child name.
fn absolute(me: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = me.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(_) => {}
        None => return None,
    }
    if me.first().is_some_and(|s| s == "<main>") {
        return None;
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// Tarjan's strongly connected components; only those with more than one node.
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let n = edges.len();
    let mut state = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.found
}

fn synthetic(files: &[&str], edges: &[(usize, usize)]) -> Graph {
    let mut graph =
        Graph { files: files.iter().map(|f| (*f).to_owned()).collect(), edges: vec![BTreeSet::new(); files.len()] };
    for &(from, to) in edges {
        graph.edges[from].insert(to);
    }
    graph
}

#[test]
fn a_cycle_through_two_top_level_modules_is_found_and_one_inside_a_module_is_not() {
    let files = ["profiles/service.rs", "profiles/candidates.rs", "rounds/field.rs", "rounds/mod.rs", "audit.rs"];
    // profiles/service -> profiles/candidates -> rounds/field -> profiles/service; rounds/mod <-> rounds/field.
    let graph = synthetic(&files, &[(0, 1), (1, 2), (2, 0), (3, 2), (2, 3), (0, 4)]);
    let cycles = graph.cross_module_cycles();
    assert_eq!(cycles, vec![vec![0, 1, 2, 3]]);
    let described = graph.describe(&cycles[0]);
    assert!(described.contains("edge rounds/field.rs -> profiles/service.rs"), "{described}");
    assert!(described.contains("edge profiles/candidates.rs -> rounds/field.rs"), "{described}");

    let within = synthetic(&files, &[(0, 1), (1, 0), (3, 2), (2, 3), (0, 2), (2, 4)]);
    assert!(within.cross_module_cycles().is_empty());
}

#[test]
fn an_import_of_the_top_is_found() {
    let graph = synthetic(&["app.rs", "state.rs", "rounds/routes.rs"], &[(0, 1), (0, 2), (2, 0)]);
    assert_eq!(graph.edges_into_top(), vec![("rounds/routes.rs".to_owned(), "app.rs".to_owned())]);
}

#[test]
fn paths_are_read_from_use_trees_and_code_but_not_from_comments_strings_or_tests() {
    let source = r##"
        //! Uses crate::docs::only in a comment.
        use crate::{access::{self, AuthUser}, db::schema::referrals as r};
        use super::names::normalise;
        pub use store::Row;
        /* crate::block::comment */
        fn f() -> &'static str { let _ = crate::audit::record(); let c = '"'; "crate::in_string" }
        fn g<'a>(x: &'a str) { self::h(x); super::super::clock::now(); }
        const RAW: &str = r#"crate::raw "quoted""#;
        #[cfg(test)]
        mod tests { use crate::tested::only; }
        #[cfg(test)]
        pub(crate) mod testing { fn t() { crate::testing_only::x(); } }
    "##;
    let me: Vec<String> = vec!["profiles".into(), "service".into()];
    let children: BTreeSet<String> = ["store".to_owned()].into();
    let mut found: Vec<String> = paths_used(&strip(source), &me, &children).iter().map(|p| p.join("::")).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "access",
            "access::AuthUser",
            "audit::record",
            "clock::now",
            "db::schema::referrals",
            "profiles::names::normalise",
            "profiles::service::h",
            "profiles::service::store::Row",
        ]
    );
}
