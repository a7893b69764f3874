//! The sockets a sandbox process is handed by the launcher (made
//! close-on-exec, so no function inherits one), the DNS server on the
//! global process's, and the signals that stop a process.

use std::sync::Arc;
use std::time::Duration;

use super::{ServeError, io_error};

/// A TCP listener `start` handed over on descriptor `fd`.
pub(super) fn inherited_listener(fd: i32) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: `start` hands the global process this descriptor.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    close_on_exec(&listener)?;
    Ok(listener)
}

/// Marks a descriptor handed over by `start` close-on-exec: a function's
/// `bootstrap` (and anything it starts) must not inherit a listening
/// socket, or the port stays in LISTEN after this process dies and the
/// region cannot be revived on it.
pub(super) fn close_on_exec(socket: &impl std::os::fd::AsRawFd) -> std::io::Result<()> {
    let fd = socket.as_raw_fd();
    // SAFETY: fcntl on a descriptor this process owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Serves the sandbox's DNS on the sockets `start` handed over.
pub(super) fn start_dns(route53: Arc<crate::services::route53::Route53>) -> Result<(), ServeError> {
    let dns_error = io_error("DNS on the sockets it was handed");
    use std::os::fd::FromRawFd;
    // SAFETY: `start` hands the global process these descriptors.
    let udp = unsafe { std::net::UdpSocket::from_raw_fd(crate::launcher::DNS_UDP_FD) };
    let tcp = unsafe { std::net::TcpListener::from_raw_fd(crate::launcher::DNS_TCP_FD) };
    let udp = udp
        .set_nonblocking(true)
        .and_then(|()| close_on_exec(&udp))
        .and_then(|()| tokio::net::UdpSocket::from_std(udp));
    let tcp = tcp
        .set_nonblocking(true)
        .and_then(|()| close_on_exec(&tcp))
        .and_then(|()| tokio::net::TcpListener::from_std(tcp));
    let (udp, tcp) = match (udp, tcp) {
        (Ok(udp), Ok(tcp)) => (udp, tcp),
        (Err(e), _) | (_, Err(e)) => return Err(dns_error(e)),
    };
    let mut server = hickory_server::Server::new(crate::dns::DnsHandler { route53 });
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 4096);
    // The server lives as long as the process.
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    Ok(())
}

pub(super) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
