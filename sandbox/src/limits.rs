//! What one sandbox process gives any client, so that nobody on the
//! machine can exhaust it: at most [`MAX_CONNECTIONS`] open connections
//! (more wait in the kernel's backlog, unaccepted), and a request body is
//! read into memory only up to a limit that depends on who sent it:
//! [`MAX_BODY`] (DynamoDB's 16 MB batches fit) for a request signed with a
//! key the sandbox issued, [`MAX_ANONYMOUS_BODY`] for anything else, so a
//! stranger cannot make a process buffer 20 MiB before its signature is
//! even checked.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::credentials::SandboxSecrets;

/// Largest body of a request signed with a key the sandbox issued.
pub const MAX_BODY: usize = 20 * 1024 * 1024;

/// Largest body of any other request (unsigned, or signed with a key the
/// sandbox does not know): enough for every unsigned operation (Cognito's
/// `GetId`, the Facebook stand-in's form, `/health`).
pub const MAX_ANONYMOUS_BODY: usize = 1024 * 1024;

/// Open connections one process accepts at a time.
pub const MAX_CONNECTIONS: usize = 1024;

/// How much of a request's body to read: a request whose `Authorization`
/// names a key the sandbox issued (and, for temporary keys, a session
/// token that opens and has not expired) may send [`MAX_BODY`]; whether
/// the signature is right is checked once the body is read.
pub fn body_limit(headers: &HeaderMap, secrets: &SandboxSecrets) -> usize {
    let key = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next());
    let token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    match key {
        Some(key) if secrets.resolve(key, token).is_ok() => MAX_BODY,
        _ => MAX_ANONYMOUS_BODY,
    }
}

/// A listener that holds at most `limit` accepted connections open; each
/// connection gives its place back when it closes.
pub struct LimitedListener {
    inner: TcpListener,
    places: Arc<Semaphore>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, limit: usize) -> Self {
        LimitedListener {
            inner,
            places: Arc::new(Semaphore::new(limit)),
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let place = self
            .places
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    return (
                        LimitedStream {
                            stream,
                            _place: place,
                        },
                        addr,
                    );
                }
                // As axum's own TCP listener does: a failed accept (out of
                // descriptors, a connection reset before it was taken) is
                // logged and the next one tried, after a pause.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection holding its place under the limit.
pub struct LimitedStream {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
