//! The dev server's connections. Requests the HTTP layer refuses before any handler sees them
//! (a URI over 64 KB, headers too large, a request line it cannot parse) are answered by
//! hyper itself with an empty body; every refusal of callsync is a JSON error, so those
//! answers are rewritten on their way out into the same `{"error": {"code", "message"}}`.

use axum::serve::Listener;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections answer the HTTP layer's own refusals in JSON.
pub struct JsonRefusals(pub TcpListener);

impl Listener for JsonRefusals {
    type Io = JsonRefusalStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        (
            JsonRefusalStream {
                inner: stream,
                pending: Vec::new(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Listener::local_addr(&self.0)
    }
}

pub struct JsonRefusalStream {
    inner: TcpStream,
    /// A rewritten answer not yet fully written.
    pending: Vec<u8>,
}

/// The JSON answer for a bodiless refusal written by the HTTP layer, or `None` for anything
/// else (every answer of a callsync handler that refuses has a body).
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let status_line = text.strip_prefix("HTTP/1.1 ")?.split("\r\n").next()?;
    let is_bare_head = text.ends_with("\r\n\r\n")
        && text.matches("\r\n\r\n").count() == 1
        && text
            .to_ascii_lowercase()
            .contains("\r\ncontent-length: 0\r\n");
    if !is_bare_head {
        return None;
    }
    let (code, message) = match status_line.split(' ').next()? {
        "400" => ("bad_request", "the request could not be read as HTTP"),
        "414" => ("uri_too_long", "the request URI is over 64 KB"),
        "431" => (
            "headers_too_large",
            "the request headers are larger than accepted",
        ),
        _ => return None,
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl JsonRefusalStream {
    /// Writes what is pending; `Ready(Ok)` once nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pending.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for JsonRefusalStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for JsonRefusalStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        match rewrite(buf) {
            Some(answer) => {
                self.pending = answer;
                // Taken whole: what was replaced counts as written.
                let _ = self.drain(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_refusals_of_the_http_layer_are_rewritten() {
        let answer =
            rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n").unwrap();
        let text = String::from_utf8(answer).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        let body: serde_json::Value =
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "uri_too_long");
        // A handler's own refusal has its JSON body already; other answers pass untouched.
        for untouched in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 40\r\n\r\n{\"error\":{}}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 302 Found\r\nlocation: /\r\ncontent-length: 0\r\n\r\n",
            b"partial body bytes",
        ] {
            assert!(rewrite(untouched).is_none());
        }
    }
}
