//! The Import Hub's built files (web/dist) served at `/` beside the API, on the same origin.
//! Only requests that match no API route get here: a file of the build is served with its
//! content type, and any other GET that accepts HTML gets index.html, so the app's own
//! routes (`/meetings/{id}`, ...) load on a reload or from a link.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use std::path::{Path, PathBuf};

/// Content types by file extension, for what a Vite build emits.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The file under `root` a URL path names, if the path is a plain one: no `..`, no
/// backslashes, no percent-escapes, no hidden files.
fn file_for(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = url_path.trim_start_matches('/');
    if relative.is_empty() {
        return Some(root.join("index.html"));
    }
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty()
            || segment.starts_with('.')
            || segment.contains('\\')
            || segment.contains('%')
            || segment.contains('\0')
        {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

fn accepts_html(parts: &http::request::Parts) -> bool {
    parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

async fn file_response(path: &Path, method: &Method) -> Option<Response> {
    let bytes = tokio::fs::read(path).await.ok()?;
    // Vite names what it emits under assets/ by content hash: those never change.
    let cache = if path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|name| name == "assets")
    {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(response)
}

/// The answer from the built app for a request no API route took, or `None` (then the
/// caller answers 404 as the API does).
pub async fn serve(root: &Path, parts: &http::request::Parts) -> Option<Response> {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return None;
    }
    let path = parts.uri.path();
    if let Some(file) = file_for(root, path) {
        if tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file()) {
            return file_response(&file, &parts.method).await;
        }
    }
    // An app route: the app itself, which routes in the browser.
    if accepts_html(parts) {
        let index = root.join("index.html");
        if let Some(response) = file_response(&index, &parts.method).await {
            return Some(response);
        }
        return Some(
            (
                StatusCode::NOT_FOUND,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!(
                    "The Import Hub is not built: {} is missing. Run `make web` (or `make dev`, which builds it).",
                    index.display()
                ),
            )
                .into_response(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, accept: Option<&str>) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri(path);
        if let Some(accept) = accept {
            builder = builder.header(ACCEPT, accept);
        }
        builder.body(()).unwrap().into_parts().0
    }

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn built_app() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html><p>hub</p>").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/app-1a2b.js"), "console.log(1)").unwrap();
        std::fs::write(dir.path().join("assets/app-1a2b.css"), "p{}").unwrap();
        std::fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
        dir
    }

    #[tokio::test]
    async fn files_are_served_with_their_content_types() {
        let dir = built_app();
        for (path, expected) in [
            ("/", "text/html; charset=utf-8"),
            ("/index.html", "text/html; charset=utf-8"),
            ("/assets/app-1a2b.js", "text/javascript; charset=utf-8"),
            ("/assets/app-1a2b.css", "text/css; charset=utf-8"),
        ] {
            let response = serve(dir.path(), &request("GET", path, None))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()[CONTENT_TYPE], expected, "{path}");
        }
        let asset = serve(dir.path(), &request("GET", "/assets/app-1a2b.js", None))
            .await
            .unwrap();
        assert!(asset.headers()[CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
    }

    #[tokio::test]
    async fn app_routes_that_accept_html_get_the_app_and_others_get_nothing() {
        let dir = built_app();
        let html = "text/html,application/xhtml+xml,*/*;q=0.8";
        let page = serve(dir.path(), &request("GET", "/meetings/abc", Some(html)))
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(body_of(page).await.contains("hub"));
        assert!(serve(
            dir.path(),
            &request("GET", "/meetings/abc", Some("application/json"))
        )
        .await
        .is_none());
        assert!(serve(dir.path(), &request("POST", "/calls", Some(html)))
            .await
            .is_none());
        assert!(
            serve(dir.path(), &request("GET", "/assets/missing.js", None))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn paths_outside_the_build_or_hidden_files_are_never_read() {
        let dir = built_app();
        for path in ["/../Cargo.toml", "/.env", "/assets/..%2F..%2Fetc%2Fpasswd"] {
            let answer = serve(dir.path(), &request("GET", path, Some("text/html"))).await;
            // At most the app itself, never the named file.
            if let Some(response) = answer {
                assert!(body_of(response).await.contains("hub"), "{path}");
            }
        }
    }

    #[tokio::test]
    async fn without_a_build_a_page_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let response = serve(dir.path(), &request("GET", "/", Some("text/html")))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert!(body_of(response).await.contains("make web"));
    }
}
