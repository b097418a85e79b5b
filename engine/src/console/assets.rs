//! The console's files, compiled into the binary from `engine/console/`:
//! plain HTML, CSS and JavaScript modules, with no build step, and
//! `@dagrejs/dagre` (MIT) for the graph layout.

/// The console's shell: one page for the home and execution views.
pub(super) const INDEX: &[u8] = include_bytes!("../../console/index.html");
/// The login page, served in place of the shell to a browser without a
/// session when credentials are configured.
pub(super) const LOGIN: &[u8] = include_bytes!("../../console/login.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/console/`, by name.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/app.css"),
    ),
    ("app.js", JS, include_bytes!("../../console/app.js")),
    ("api.js", JS, include_bytes!("../../console/api.js")),
    ("dom.js", JS, include_bytes!("../../console/dom.js")),
    ("home.js", JS, include_bytes!("../../console/home.js")),
    ("execution.js", JS, include_bytes!("../../console/execution.js")),
    ("history.js", JS, include_bytes!("../../console/history.js")),
    ("graph.js", JS, include_bytes!("../../console/graph.js")),
    ("start.js", JS, include_bytes!("../../console/start.js")),
    ("login.js", JS, include_bytes!("../../console/login.js")),
    (
        "vendor/dagre.esm.js",
        JS,
        include_bytes!("../../console/vendor/dagre.esm.js"),
    ),
    (
        "vendor/LICENSE-dagre",
        "text/plain; charset=utf-8",
        include_bytes!("../../console/vendor/LICENSE-dagre"),
    ),
];

/// A file's content type and bytes.
pub(super) fn find(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES.iter().find(|(n, _, _)| *n == name).map(|(_, t, b)| (*t, *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_scripts_import_is_served() {
        // A missing file would break the page only in a browser: check the
        // relative imports of each script here.
        for (name, _, body) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = std::str::from_utf8(body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line.split('"').nth(1).unwrap_or_default();
                let target = target.strip_prefix("./").unwrap_or(target);
                assert!(find(target).is_some(), "{name} imports {target}, which is not served");
            }
        }
        assert!(find("../Cargo.toml").is_none());
    }
}
