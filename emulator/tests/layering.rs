//! The emulator's modules import each other without a circle: every `crate::…`, `super::…` and
//! `self::…` path in src/ (test modules left out) is resolved to the file it names, and the
//! resulting graph of files must have no cycle. This is what keeps each store (state and rules)
//! apart from its HTTP half: a store that reached back into routes or the server would close one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module path (`["apis", "redis", "http"]`; the crate root is empty).
type ModPath = Vec<String>;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines: `ops/http.rs` → `ops::http`, `apis/redis/mod.rs` → `apis::redis`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: ModPath = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects the paths a file names, skipping `#[cfg(test)]` items.
#[derive(Default)]
struct Paths {
    /// Paths in `use` items, groups flattened (`use a::{b, c}` → `a::b`, `a::c`).
    uses: Vec<Vec<String>>,
    /// Paths in code and types.
    code: Vec<Vec<String>>,
}

impl Paths {
    fn flatten(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.flatten(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.push_with(prefix, n.ident.to_string()),
            syn::UseTree::Rename(r) => self.push_with(prefix, r.ident.to_string()),
            syn::UseTree::Glob(_) => self.uses.push(prefix.clone()),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.flatten(prefix, t)),
        }
    }

    fn push_with(&mut self, prefix: &[String], last: String) {
        let mut path = prefix.to_vec();
        if last != "self" {
            path.push(last);
        }
        self.uses.push(path);
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !is_cfg_test(&item.attrs) {
            self.flatten(&mut Vec::new(), &item.tree);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_cfg_test(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_cfg_test(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.code
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

/// Modules brought into scope by name (`use crate::apis::redis;` → `redis`).
type Aliases = BTreeMap<String, ModPath>;

/// The module a path written in module `from` leads to (the longest prefix that is a module),
/// or `None` for paths outside the crate (std, dependencies, local items).
fn resolve(
    modules: &BTreeSet<ModPath>,
    aliases: &Aliases,
    from: &ModPath,
    path: &[String],
) -> Option<ModPath> {
    let (mut base, mut rest) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some(first) if aliases.contains_key(first) => (aliases[first].clone(), &path[1..]),
        Some("self") => (from.clone(), &path[1..]),
        Some("super") => (from.clone(), path),
        Some(first) => {
            let mut child = from.clone();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            (from.clone(), path)
        }
        None => return None,
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    for segment in rest {
        let mut next = base.clone();
        next.push(segment.clone());
        if !modules.contains(&next) {
            break;
        }
        base = next;
    }
    Some(base)
}

/// `a::b` for printing; the crate root is `crate`.
fn name(module: &ModPath) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

/// The import graph of src/: module → the modules it names.
fn import_graph() -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file:?}: {e}"));
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("parse {file:?}: {e}"));
        let mut paths = Paths::default();
        paths.visit_file(&ast);
        let mut aliases = Aliases::new();
        for path in &paths.uses {
            if let Some(module) = resolve(&modules, &Aliases::new(), &from, path)
                && module.last() == path.last()
                && let Some(last) = path.last()
            {
                aliases.insert(last.clone(), module);
            }
        }
        let targets: BTreeSet<ModPath> = paths
            .uses
            .iter()
            .chain(&paths.code)
            .filter_map(|p| resolve(&modules, &aliases, &from, p))
            .filter(|to| *to != from && !to.is_empty())
            .collect();
        graph.insert(from, targets);
    }
    graph
}

/// One cycle of the graph, if it has any (depth-first search with colours).
fn find_cycle(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        Unseen,
        OnStack,
        Done,
    }
    fn visit(
        node: &ModPath,
        graph: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        colour: &mut BTreeMap<ModPath, Colour>,
        stack: &mut Vec<ModPath>,
    ) -> Option<Vec<ModPath>> {
        colour.insert(node.clone(), Colour::OnStack);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match colour.get(next).copied().unwrap_or(Colour::Unseen) {
                Colour::OnStack => {
                    let start = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Colour::Unseen => {
                    if let Some(cycle) = visit(next, graph, colour, stack) {
                        return Some(cycle);
                    }
                }
                Colour::Done => {}
            }
        }
        stack.pop();
        colour.insert(node.clone(), Colour::Done);
        None
    }
    let mut colour = BTreeMap::new();
    for node in graph.keys() {
        if colour.get(node).copied().unwrap_or(Colour::Unseen) == Colour::Unseen
            && let Some(cycle) = visit(node, graph, &mut colour, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_modules_import_each_other_without_a_circle() {
    let graph = import_graph();
    let listing: String = graph
        .iter()
        .map(|(from, to)| {
            let targets: Vec<String> = to.iter().map(name).collect();
            format!("{} -> {}\n", name(from), targets.join(", "))
        })
        .collect();
    println!("{listing}");
    if let Some(cycle) = find_cycle(&graph) {
        let shown: Vec<String> = cycle.iter().map(name).collect();
        panic!(
            "import circle: {}\nfull graph:\n{listing}",
            shown.join(" -> ")
        );
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let m = |s: &str| -> ModPath { s.split("::").map(str::to_string).collect() };
    let mut graph = BTreeMap::new();
    graph.insert(m("state"), BTreeSet::from([m("world")]));
    graph.insert(m("world"), BTreeSet::from([m("projects")]));
    graph.insert(m("projects"), BTreeSet::from([m("state")]));
    assert!(find_cycle(&graph).is_some());
    graph.insert(m("projects"), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn paths_resolve_to_the_modules_they_name() {
    let m = |s: &str| -> ModPath { s.split("::").map(str::to_string).collect() };
    let modules: BTreeSet<ModPath> = [
        "ops",
        "ops::http",
        "apis",
        "apis::redis",
        "apis::redis::model",
    ]
    .iter()
    .map(|s| m(s))
    .collect();
    let p = |s: &str| -> Vec<String> { s.split("::").map(str::to_string).collect() };
    let none = Aliases::new();
    let http = m("ops::http");
    assert_eq!(
        resolve(&modules, &none, &http, &p("super::Operation")),
        Some(m("ops"))
    );
    assert_eq!(
        resolve(
            &modules,
            &none,
            &http,
            &p("crate::apis::redis::model::Store")
        ),
        Some(m("apis::redis::model"))
    );
    assert_eq!(
        resolve(&modules, &none, &m("ops"), &p("http::API")),
        Some(m("ops::http"))
    );
    assert_eq!(
        resolve(&modules, &none, &http, &p("serde_json::Value")),
        None
    );
    let aliases = Aliases::from([("redis".to_string(), m("apis::redis"))]);
    assert_eq!(
        resolve(&modules, &aliases, &m("world"), &p("redis::model::Store")),
        Some(m("apis::redis::model"))
    );
}
