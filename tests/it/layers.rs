//! The source tree follows a request's path, and no folder reaches up it: each top-level module
//! uses only the modules below it. Read from the sources, so a new `use` that breaks the order
//! fails here rather than growing into a cycle.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules from the bottom of the pipeline up; each may use those before it.
const ORDER: &[&str] = &[
    "error",
    "files",
    "json",
    "sets",
    "request",
    "net",
    "source",
    "cache",
    "backend",
    "openai",
    // An add-on: it reads the backend's scenes.
    "scene",
    // The tiers and sources asked in order, for the runtime and the bake alike.
    "chain",
    "runtime",
    "provider",
    // An add-on: it registers its decoder with the runtime.
    "video",
    "observe",
    "prediction",
    "asset_server",
    "plugin",
    "bake",
];

/// The top-level modules each source file of `module` names as `crate::<module>`, outside
/// comments and tests.
fn uses(root: &Path, module: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let file = root.join(format!("{module}.rs"));
    let folder = root.join(module);
    let mut files = Vec::new();
    if file.is_file() {
        files.push(file);
    }
    let mut stack = vec![folder];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for part in line.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    found
                        .entry(name)
                        .or_insert_with(|| format!("{}:{}", path.display(), number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn no_folder_reaches_up_the_pipeline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (level, module) in ORDER.iter().enumerate() {
        for (used, place) in uses(&root, module) {
            match ORDER.iter().position(|m| *m == used) {
                Some(at) if at < level => {}
                Some(_) => wrong.push(format!("{module} uses {used} ({place})")),
                None => wrong.push(format!("{module} uses {used}, not in the order ({place})")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
