//! What one sandbox process gives any client, so that nobody on the
//! machine can exhaust it: at most [`MAX_CONNECTIONS`] open connections
//! (more wait in the kernel's backlog, unaccepted), and a request body is
//! read into memory only up to a limit that depends on who sent it:
//! [`MAX_BODY`] (DynamoDB's 16 MB batches fit) for a request signed with a
//! key the sandbox issued, [`MAX_ANONYMOUS_BODY`] for anything else, so a
//! stranger cannot make a process buffer 20 MiB before its signature is
//! even checked. A function's Runtime API answers only its owner's
//! processes ([`OwnerOnlyListener`]).

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

/// A listener that serves only connections from processes of this
/// process's own user: the Lambda Runtime API, which hands out
/// invocations (payloads, and through them the caller's data) to whoever
/// asks. Other users' connections are closed unanswered. The peer's user
/// is the owner of its end of the connection in `/proc/net/tcp`.
pub struct OwnerOnlyListener {
    inner: TcpListener,
    uid: u32,
}

impl OwnerOnlyListener {
    pub fn new(inner: TcpListener) -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        OwnerOnlyListener { inner, uid }
    }
}

impl axum::serve::Listener for OwnerOnlyListener {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().ok();
                    if local.and_then(|l| peer_uid(l, peer)) == Some(self.uid) {
                        return (stream, peer);
                    }
                    tracing::warn!(%peer, "refused a connection from another user");
                }
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

/// The user owning the other end of a loopback IPv4 connection: the
/// socket whose local address is `peer` and remote address `local`.
fn peer_uid(local: std::net::SocketAddr, peer: std::net::SocketAddr) -> Option<u32> {
    let hex = |a: std::net::SocketAddr| match a {
        std::net::SocketAddr::V4(v4) => Some(format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        )),
        std::net::SocketAddr::V6(_) => None,
    };
    let (peer, local) = (hex(peer)?, hex(local)?);
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&peer.as_str()) && fields.get(2) == Some(&local.as_str()))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_of_a_loopback_connection_is_found_with_its_user() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert_eq!(peer_uid(server.local_addr().unwrap(), peer), Some(me));
        assert_eq!(peer, client.local_addr().unwrap());
        // A connection that does not exist has no owner.
        let nobody: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(peer_uid(server.local_addr().unwrap(), nobody), None);
    }
}
