//! The web UI's files, embedded in the binary. The UI is plain HTML, CSS and ES modules with
//! no build step and no runtime dependencies: the browser loads them as they are written in
//! `web/`, and every view reads Temporal's HTTP API on the same origin (`/api/v1/...`).
//!
//! [`file`] answers a request path: a file under `/static/`, or the page itself for any other
//! path, so a view's address (`/namespaces/default/workflows/...`) can be shared and reloaded.

/// One embedded file and the content type it is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File {
    pub body: &'static [u8],
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The page every view is drawn in.
pub const INDEX: File = File {
    body: include_bytes!("../web/index.html"),
    content_type: HTML,
};

/// The files under `/static/`, by name.
const STATIC: &[(&str, File)] = &[
    ("style.css", file(include_bytes!("../web/style.css"), CSS)),
    (
        "favicon.svg",
        file(include_bytes!("../web/favicon.svg"), SVG),
    ),
    ("app.js", file(include_bytes!("../web/app.js"), JS)),
    ("api.js", file(include_bytes!("../web/api.js"), JS)),
    ("dom.js", file(include_bytes!("../web/dom.js"), JS)),
    ("format.js", file(include_bytes!("../web/format.js"), JS)),
    (
        "namespaces.js",
        file(include_bytes!("../web/namespaces.js"), JS),
    ),
    (
        "workflows.js",
        file(include_bytes!("../web/workflows.js"), JS),
    ),
    (
        "workflow.js",
        file(include_bytes!("../web/workflow.js"), JS),
    ),
    ("history.js", file(include_bytes!("../web/history.js"), JS)),
    ("actions.js", file(include_bytes!("../web/actions.js"), JS)),
    (
        "task_queue.js",
        file(include_bytes!("../web/task_queue.js"), JS),
    ),
    (
        "schedules.js",
        file(include_bytes!("../web/schedules.js"), JS),
    ),
];

const fn file(body: &'static [u8], content_type: &'static str) -> File {
    File { body, content_type }
}

/// What the UI serves at `path` (no query string): a static file, `None` for a missing one,
/// or the page for every other path.
pub fn file_at(path: &str) -> Option<File> {
    match path.strip_prefix("/static/") {
        Some(name) => STATIC.iter().find(|(n, _)| *n == name).map(|(_, f)| *f),
        None => Some(INDEX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_get_the_page_and_static_files_their_type() {
        assert_eq!(file_at("/"), Some(INDEX));
        assert_eq!(
            file_at("/namespaces/default/workflows/a%2Fb/r1"),
            Some(INDEX)
        );
        let js = file_at("/static/app.js").unwrap();
        assert_eq!(js.content_type, JS);
        assert!(std::str::from_utf8(js.body).unwrap().contains("import"));
        assert_eq!(file_at("/static/missing.js"), None);
        assert_eq!(file_at("/static/../Cargo.toml"), None);
    }

    /// Every module the page or another module imports is served, so no view fails to load.
    #[test]
    fn every_imported_module_is_embedded() {
        let index = std::str::from_utf8(INDEX.body).unwrap();
        let mut wanted: Vec<String> = refs(index, "src=\"/static/");
        wanted.extend(refs(index, "href=\"/static/"));
        for (name, f) in STATIC {
            if name.ends_with(".js") {
                wanted.extend(refs(std::str::from_utf8(f.body).unwrap(), "from './"));
            }
        }
        assert!(wanted.len() > 5, "{wanted:?}");
        for name in wanted {
            assert!(
                file_at(&format!("/static/{name}")).is_some(),
                "{name} is not embedded"
            );
        }
    }

    /// The names that follow `prefix` up to the next quote.
    fn refs(text: &str, prefix: &str) -> Vec<String> {
        text.split(prefix)
            .skip(1)
            .map(|rest| rest.split(['"', '\'']).next().unwrap().to_string())
            .collect()
    }
}
