//! Starting, stopping and outaging sandbox processes: the one typed module
//! the CLI uses for everything AWS has no API for (process lifecycle,
//! region blackouts by signal, replication delay through the control API).
//!
//! `start` binds every listener itself and hands each to its process as
//! file descriptor 3, so an ephemeral port (`--port 0`) is race-free and
//! several sandboxes can run side by side.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::control::ControlClient;
use crate::credentials::SandboxSecrets;
use crate::services::dynamodb::replication::{Settings, SubscriptionStatus};
use crate::topology::{
    Endpoint, GLOBAL, Layout, SandboxState, Topology, region_address, write_atomic,
};

mod error;

pub use error::LaunchError;
use error::{io_error, listen_error, port_of};

/// The descriptor a served process finds its listener on.
pub const LISTEN_FD: i32 = 3;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub root: PathBuf,
    pub regions: Vec<String>,
    /// 0 picks a free port.
    pub port: u16,
    /// The command that runs one sandbox process (program, then its
    /// arguments), e.g. the CLI's `[current_exe, "sandbox", "serve"]`; the
    /// launcher appends `--role`, `--dir`, `--listen-fd` and `--topology`,
    /// which that command must hand to [`crate::server::serve`].
    pub serve_command: Vec<std::ffi::OsString>,
    pub ready_timeout: Duration,
}

/// Whether `start` started processes or found them running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Started {
    Started,
    Reused,
}

/// A running sandbox: where it is and how to reach it.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub layout: Layout,
    pub state: SandboxState,
    pub secrets: SandboxSecrets,
}

/// One process as `status` sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessStatus {
    pub name: String,
    pub endpoint: String,
    pub pid: u32,
    /// `running`, `frozen`, `dead` or `unresponsive`.
    pub state: String,
    pub log: PathBuf,
}

fn pid_alive(pid: u32) -> bool {
    // kill(0, 0) would signal our own process group: pid 0 (and anything
    // that does not fit a pid) is never a sandbox process.
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // A zombie still answers kill(0); /proc tells it apart. A killed
    // process's main thread turns zombie before its other threads have
    // exited, and its sockets stay open until the last one has: it is
    // alive while any of its threads is.
    let alive = unsafe { libc::kill(pid as i32, 0) } == 0;
    alive && (proc_state(pid) != Some('Z') || threads_running(pid))
}

/// Whether any thread of `pid` other than a zombie main thread is still
/// there.
fn threads_running(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether `pid` is a `sandbox serve` process of the sandbox at `root`: a
/// recycled pid must never be signalled.
fn is_ours(pid: u32, root: &Path) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => {
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let root = root.to_string_lossy();
            args.iter().any(|a| a == "serve") && args.iter().any(|a| *a == *root)
        }
        // Without /proc (macOS) the pid from our own state file is trusted.
        Err(_) => true,
    }
}

fn signal(pid: u32, sig: i32) -> bool {
    // Never 0 or a negative number: those address process groups.
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    unsafe { libc::kill(pid as i32, sig) == 0 }
}

/// The last `lines` lines of a log, for error messages and `logs`.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = f.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Binds every process's listener: shared port on per-region addresses,
/// or, where 127.0.1.x cannot be bound, one port per process on 127.0.0.1.
fn bind_all(
    regions: &[String],
    port: u16,
) -> Result<(Topology, Vec<(String, TcpListener)>), LaunchError> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for _attempt in 0..20 {
        let global = TcpListener::bind(SocketAddr::new(localhost, port)).map_err(|error| {
            LaunchError::PortInUse {
                on: format!("on 127.0.0.1:{port}"),
                error,
            }
        })?;
        let shared = port_of(global.local_addr())?;
        let mut listeners = vec![(GLOBAL.to_owned(), global)];
        let mut failure = None;
        for (i, region) in regions.iter().enumerate() {
            match TcpListener::bind(SocketAddr::new(region_address(i), shared)) {
                Ok(l) => listeners.push((region.clone(), l)),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match failure {
            None => {
                let topology = Topology {
                    dns_port: None,
                    edge_port: None,
                    cdn_port: None,
                    shared_port: true,
                    global: Endpoint {
                        name: GLOBAL.into(),
                        address: localhost,
                        port: shared,
                    },
                    regions: regions
                        .iter()
                        .enumerate()
                        .map(|(i, r)| Endpoint {
                            name: r.clone(),
                            address: region_address(i),
                            port: shared,
                        })
                        .collect(),
                };
                return Ok((topology, listeners));
            }
            Some(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                return bind_separately(regions, port);
            }
            Some(e) if e.kind() == std::io::ErrorKind::AddrInUse && port == 0 => continue,
            Some(error) => {
                return Err(LaunchError::PortInUse {
                    on: format!("on port {shared} for every region"),
                    error,
                });
            }
        }
    }
    Err(LaunchError::NoFreePort("on every region address"))
}

fn bind_separately(
    regions: &[String],
    port: u16,
) -> Result<(Topology, Vec<(String, TcpListener)>), LaunchError> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut listeners = Vec::new();
    let mut endpoints = Vec::new();
    for (i, name) in std::iter::once(GLOBAL.to_owned())
        .chain(regions.iter().cloned())
        .enumerate()
    {
        let want = if port == 0 { 0 } else { port + i as u16 };
        let l = TcpListener::bind(SocketAddr::new(localhost, want))
            .map_err(listen_error(format!("on 127.0.0.1:{want}")))?;
        endpoints.push(Endpoint {
            name: name.clone(),
            address: localhost,
            port: port_of(l.local_addr())?,
        });
        listeners.push((name, l));
    }
    let global = endpoints.remove(0);
    Ok((
        Topology {
            shared_port: false,
            global,
            regions: endpoints,
            dns_port: None,
            edge_port: None,
            cdn_port: None,
        },
        listeners,
    ))
}

/// The DNS server's sockets: UDP and TCP on one port of 127.0.0.1
/// (`port` 0 picks a free one).
fn bind_dns(port: u16) -> Result<(std::net::UdpSocket, TcpListener), LaunchError> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind(SocketAddr::new(localhost, port))
            .map_err(listen_error(format!("for DNS on 127.0.0.1:{port}/udp")))?;
        let chosen = port_of(udp.local_addr())?;
        match TcpListener::bind(SocketAddr::new(localhost, chosen)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if port == 0 => continue,
            Err(e) => {
                return Err(listen_error(format!("for DNS on 127.0.0.1:{chosen}/tcp"))(
                    e,
                ));
            }
        }
    }
    Err(LaunchError::NoFreePort("for DNS on both UDP and TCP"))
}

/// The global process's sockets besides its main listener: the DNS
/// server's, the edge proxy's and the CloudFront edge's, all on 127.0.0.1.
pub struct GlobalSockets {
    dns: (std::net::UdpSocket, TcpListener),
    edge: TcpListener,
    cdn: TcpListener,
}

impl GlobalSockets {
    /// Binds them on the ports `topology` names, or free ones where it
    /// names none; records the ports chosen in `topology`.
    fn bind(topology: &mut Topology) -> Result<Self, LaunchError> {
        let tcp = |port: Option<u16>, what: &str| {
            let port = port.unwrap_or(0);
            TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
                .map_err(listen_error(format!("for the {what} on 127.0.0.1:{port}")))
        };
        let dns = bind_dns(topology.dns_port.unwrap_or(0))?;
        let edge = tcp(topology.edge_port, "edge proxy")?;
        let cdn = tcp(topology.cdn_port, "CloudFront edge")?;
        topology.dns_port = Some(port_of(dns.0.local_addr())?);
        topology.edge_port = Some(port_of(edge.local_addr())?);
        topology.cdn_port = Some(port_of(cdn.local_addr())?);
        Ok(GlobalSockets { dns, edge, cdn })
    }

    /// (descriptor here, descriptor the child finds it on).
    fn fds(&self) -> [(i32, i32); 4] {
        [
            (self.dns.0.as_raw_fd(), DNS_UDP_FD),
            (self.dns.1.as_raw_fd(), DNS_TCP_FD),
            (self.edge.as_raw_fd(), EDGE_FD),
            (self.cdn.as_raw_fd(), CDN_FD),
        ]
    }
}

/// Descriptors the global process finds its extra sockets on.
pub const DNS_UDP_FD: i32 = 4;
pub const DNS_TCP_FD: i32 = 5;
pub const EDGE_FD: i32 = 6;
pub const CDN_FD: i32 = 7;

fn spawn(
    serve_command: &[std::ffi::OsString],
    layout: &Layout,
    topology: &Topology,
    name: &str,
    listener: &TcpListener,
    extra: Option<&GlobalSockets>,
) -> Result<u32, LaunchError> {
    let log_path = layout.log_file(name);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(layout.logs_dir())
        .map_err(io_error("create the log directory", &layout.logs_dir()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(io_error("open the log", &log_path))?;
    let log_copy = log
        .try_clone()
        .map_err(io_error("open the log", &log_path))?;
    let role = if name == GLOBAL {
        GLOBAL.to_owned()
    } else {
        format!("region:{name}")
    };
    let fd = listener.as_raw_fd();
    let extra_fds = extra.map(GlobalSockets::fds);
    let Some((program, prefix)) = serve_command.split_first() else {
        return Err(LaunchError::NoServeCommand);
    };
    let mut cmd = Command::new(program);
    cmd.args(prefix)
        .args(["--role", &role, "--dir"])
        .arg(&layout.root)
        .args([
            "--listen-fd",
            &LISTEN_FD.to_string(),
            "--topology",
            &serde_json::to_string(topology).expect("the topology is plain data"),
        ])
        .stdin(Stdio::null())
        .stdout(log_copy)
        .stderr(log)
        // A test hook, armed only by a serve command that sets it itself.
        .env_remove(crate::fault::ENV)
        .env(
            "RUST_LOG",
            // hickory logs every DNS query at info: too much for a file.
            std::env::var("WILDRYDES_SANDBOX_LOG")
                .unwrap_or_else(|_| "info,hickory_server=warn,hickory_net=warn".into()),
        );
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Every source is first copied above the targets, so placing
            // one never overwrites another still to be placed; dup2 leaves
            // the placed copies open across exec.
            let mut moves = [(fd, LISTEN_FD); 5];
            let count = match extra_fds {
                Some(fds) => {
                    moves[1..].copy_from_slice(&fds);
                    5
                }
                None => 1,
            };
            for (from, _) in moves.iter_mut().take(count) {
                let high = libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, 64);
                if high < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                *from = high;
            }
            for (from, to) in moves.iter().take(count) {
                if libc::dup2(*from, *to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Its own session: a Ctrl-C at the terminal does not reach it.
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| LaunchError::Spawn {
        program: PathBuf::from(program),
        source,
    })?;
    Ok(child.id())
}

impl Sandbox {
    /// The sandbox at `root`, if its state file exists.
    pub fn open(root: &Path) -> Result<Option<Sandbox>, LaunchError> {
        let layout = Layout::new(root);
        let Some(state) = layout.read_state()? else {
            return Ok(None);
        };
        let secrets = SandboxSecrets::load(&layout.credentials_file())?;
        Ok(Some(Sandbox {
            layout,
            state,
            secrets,
        }))
    }

    /// The control API of a process.
    pub fn control(&self, process: &str) -> Result<ControlClient, LaunchError> {
        let endpoint = self
            .state
            .topology
            .endpoint(process)
            .ok_or_else(|| self.no_process(process))?;
        Ok(ControlClient::new(
            &endpoint.url(),
            &self.secrets.control_token,
        ))
    }

    fn names(&self) -> Vec<String> {
        self.state
            .topology
            .endpoints()
            .map(|e| e.name.clone())
            .collect()
    }

    fn no_process(&self, process: &str) -> LaunchError {
        LaunchError::NoProcess {
            process: process.to_owned(),
            running: self.names(),
        }
    }

    fn pid(&self, process: &str) -> Result<u32, LaunchError> {
        self.state
            .pids
            .get(process)
            .copied()
            .ok_or_else(|| self.no_process(process))
    }

    /// Every process: alive, frozen, answering?
    pub async fn status(&self) -> Vec<ProcessStatus> {
        let mut out = Vec::new();
        for endpoint in self.state.topology.endpoints() {
            let pid = self.state.pids.get(&endpoint.name).copied().unwrap_or(0);
            let state = if !is_ours(pid, &self.layout.root) {
                "dead"
            } else if proc_state(pid) == Some('T') {
                "frozen"
            } else if ControlClient::new(&endpoint.url(), &self.secrets.control_token)
                .with_timeout(Duration::from_millis(500))
                .ready()
                .await
                .is_ok()
            {
                "running"
            } else {
                "unresponsive"
            };
            out.push(ProcessStatus {
                name: endpoint.name.clone(),
                endpoint: endpoint.url(),
                pid,
                state: state.to_owned(),
                log: self.layout.log_file(&endpoint.name),
            });
        }
        out
    }

    /// Freezes a process (SIGSTOP): it holds its connections and answers
    /// nothing, like a region that went dark.
    pub fn freeze(&self, process: &str) -> Result<(), LaunchError> {
        self.send_signal(process, libc::SIGSTOP, "freeze")
    }

    /// Resumes a frozen process (SIGCONT).
    pub fn thaw(&self, process: &str) -> Result<(), LaunchError> {
        self.send_signal(process, libc::SIGCONT, "thaw")
    }

    fn send_signal(
        &self,
        process: &str,
        sig: i32,
        action: &'static str,
    ) -> Result<(), LaunchError> {
        let pid = self.live_pid(process)?;
        if !signal(pid, sig) {
            return Err(LaunchError::Signal {
                action,
                process: process.to_owned(),
                pid,
            });
        }
        Ok(())
    }

    /// Kills a process outright (SIGKILL), as a crash would; its data stays.
    pub fn kill(&self, process: &str) -> Result<(), LaunchError> {
        let pid = self.live_pid(process)?;
        signal(pid, libc::SIGKILL);
        wait_dead(pid, Duration::from_secs(5));
        Ok(())
    }

    fn live_pid(&self, process: &str) -> Result<u32, LaunchError> {
        let pid = self.pid(process)?;
        if !is_ours(pid, &self.layout.root) {
            return Err(LaunchError::NotRunning {
                process: process.to_owned(),
                pid,
            });
        }
        Ok(pid)
    }

    /// Starts a killed process again on its address, with its data intact,
    /// running `serve_command` as [`StartOptions::serve_command`] says.
    pub async fn revive_with(
        &mut self,
        process: &str,
        serve_command: &[std::ffi::OsString],
        timeout: Duration,
    ) -> Result<(), LaunchError> {
        let pid = self.pid(process)?;
        if is_ours(pid, &self.layout.root) {
            return Ok(());
        }
        let endpoint = self
            .state
            .topology
            .endpoint(process)
            .cloned()
            .expect("pid implies endpoint");
        let listener = TcpListener::bind(endpoint.socket())
            .map_err(listen_error(format!("on {} again", endpoint.socket())))?;
        let extra = if process == GLOBAL {
            let mut topology = self.state.topology.clone();
            let sockets = GlobalSockets::bind(&mut topology)?;
            self.state.topology = topology;
            Some(sockets)
        } else {
            None
        };
        let pid = spawn(
            serve_command,
            &self.layout,
            &self.state.topology,
            process,
            &listener,
            extra.as_ref(),
        )?;
        drop(listener);
        drop(extra);
        self.state.pids.insert(process.to_owned(), pid);
        self.layout.write_state(&self.state)?;
        self.wait_ready(&[process.to_owned()], timeout).await
    }

    async fn wait_ready(&self, processes: &[String], timeout: Duration) -> Result<(), LaunchError> {
        let deadline = Instant::now() + timeout;
        for name in processes {
            let client = self.control(name)?.with_timeout(Duration::from_millis(200));
            let pid = self.pid(name)?;
            loop {
                if client.ready().await.is_ok() {
                    break;
                }
                let log = self.layout.log_file(name);
                if !pid_alive(pid) {
                    return Err(LaunchError::Exited {
                        process: name.clone(),
                        tail: tail(&log, 15),
                        log,
                    });
                }
                if Instant::now() > deadline {
                    return Err(LaunchError::NotReady {
                        process: name.clone(),
                        timeout,
                        tail: tail(&log, 15),
                        log,
                    });
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// Current replication delay settings and subscriptions of a region.
    pub async fn replication(
        &self,
        region: &str,
    ) -> Result<(Settings, Vec<SubscriptionStatus>), LaunchError> {
        let report = self.control(region)?.replication().await?;
        Ok((report.settings, report.subscriptions))
    }

    /// Sets the delay and jitter of replication *into* `region`.
    pub async fn set_replication(
        &self,
        region: &str,
        settings: Settings,
    ) -> Result<Settings, LaunchError> {
        Ok(self.control(region)?.set_replication(settings).await?)
    }
}

fn wait_dead(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pid_alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Starts a sandbox, or reuses the healthy one already running at `root`.
pub async fn start(opts: &StartOptions) -> Result<(Sandbox, Started), LaunchError> {
    let layout = Layout::new(&opts.root);
    if let Some(existing) = Sandbox::open(&opts.root)? {
        let statuses = existing.status().await;
        let healthy = statuses.iter().all(|s| s.state == "running");
        if healthy {
            let running = existing.state.topology.region_names();
            if running != opts.regions {
                return Err(LaunchError::AlreadyRunning {
                    running,
                    root: opts.root.clone(),
                });
            }
            return Ok((existing, Started::Reused));
        }
        tracing::info!("cleaning up a sandbox that is no longer healthy");
        stop(&opts.root)?;
    }
    std::fs::create_dir_all(&opts.root).map_err(io_error("create", &opts.root))?;
    // Only its owner may enter: it holds credentials, function
    // environments (with secrets), table files and logs.
    std::fs::set_permissions(&opts.root, std::fs::Permissions::from_mode(0o700))
        .map_err(io_error("restrict the permissions of", &opts.root))?;
    let secrets = match SandboxSecrets::load(&layout.credentials_file()) {
        Ok(s) => s,
        Err(_) => {
            let s = SandboxSecrets::generate();
            s.store(&layout.credentials_file())?;
            s
        }
    };
    let (mut topology, listeners) = bind_all(&opts.regions, opts.port)?;
    // The DNS, edge and CloudFront ports of the last run, when still free,
    // so the URLs a browser and config.js hold survive a restart.
    let ports_file = layout.root.join("ports.json");
    let previous: Option<(Option<u16>, Option<u16>, Option<u16>)> = std::fs::read(&ports_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some((dns, edge, cdn)) = previous {
        (topology.dns_port, topology.edge_port, topology.cdn_port) = (dns, edge, cdn);
    }
    let extra = match GlobalSockets::bind(&mut topology) {
        Ok(x) => x,
        Err(_) if previous.is_some() => {
            (topology.dns_port, topology.edge_port, topology.cdn_port) = (None, None, None);
            GlobalSockets::bind(&mut topology)?
        }
        Err(e) => return Err(e),
    };
    let ports = (topology.dns_port, topology.edge_port, topology.cdn_port);
    let ports_json = serde_json::to_vec(&ports).expect("ports are plain numbers");
    write_atomic(&ports_file, &ports_json, 0o600).map_err(io_error("write", &ports_file))?;
    let mut pids = BTreeMap::new();
    for (name, listener) in &listeners {
        let extra = (name == GLOBAL).then_some(&extra);
        match spawn(
            &opts.serve_command,
            &layout,
            &topology,
            name,
            listener,
            extra,
        ) {
            Ok(pid) => {
                pids.insert(name.clone(), pid);
            }
            Err(e) => {
                for pid in pids.values() {
                    signal(*pid, libc::SIGKILL);
                }
                return Err(e);
            }
        }
    }
    drop(listeners);
    drop(extra);
    let state = SandboxState {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        topology,
        pids,
    };
    layout.write_state(&state)?;
    let sandbox = Sandbox {
        layout,
        state,
        secrets,
    };
    let names = sandbox.names();
    if let Err(e) = sandbox.wait_ready(&names, opts.ready_timeout).await {
        let _ = stop(&opts.root);
        return Err(e);
    }
    Ok((sandbox, Started::Started))
}

/// Stops the processes of the sandbox at `root` (gracefully, then by
/// force) and removes its state file; data stays. Returns what it stopped.
pub fn stop(root: &Path) -> Result<Vec<String>, LaunchError> {
    let layout = Layout::new(root);
    let Some(state) = layout.read_state()? else {
        return Ok(Vec::new());
    };
    let mut stopped = Vec::new();
    let ours: Vec<(String, u32)> = state
        .pids
        .iter()
        .filter(|(_, pid)| is_ours(**pid, root))
        .map(|(n, p)| (n.clone(), *p))
        .collect();
    for (_, pid) in &ours {
        signal(*pid, libc::SIGCONT);
        signal(*pid, libc::SIGTERM);
    }
    for (name, pid) in ours {
        if !wait_dead(pid, Duration::from_secs(5)) {
            signal(pid, libc::SIGKILL);
            wait_dead(pid, Duration::from_secs(2));
        }
        stopped.push(name);
    }
    std::fs::remove_file(layout.state_file())
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(io_error("remove", &layout.state_file()))?;
    Ok(stopped)
}

/// Stops the sandbox and deletes all its data and credentials.
pub fn reset(root: &Path) -> Result<(), LaunchError> {
    stop(root)?;
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(io_error("remove", root))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_zero_and_group_ids_are_never_alive_or_signalled() {
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        assert!(!signal(0, 0));
        assert!(pid_alive(std::process::id()));
    }
}
