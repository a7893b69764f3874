//! The sandbox's own test harnesses, neither of which runs the
//! `wildrydes` CLI: [`InProcess`] serves each process's router inside the
//! test process on an ephemeral 127.0.0.1 port, reached with the official
//! AWS SDK clients or raw signed HTTP; [`harness::TestSandbox`] starts real
//! processes through the launcher with this crate's `wildrydes-sandbox
//! serve`, for outages (freeze, kill, revive), functions and DNS.
#![allow(dead_code)]

pub mod harness;
pub use harness::*;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use wildrydes_sandbox::control::ControlClient;
use wildrydes_sandbox::credentials::SandboxSecrets;
use wildrydes_sandbox::server::{self, Role};
use wildrydes_sandbox::topology::{Endpoint, GLOBAL, Layout, Topology};

/// How the launcher runs a sandbox process in these tests.
pub fn serve_command() -> Vec<std::ffi::OsString> {
    vec![
        env!("CARGO_BIN_EXE_wildrydes-sandbox").into(),
        "serve".into(),
    ]
}

pub struct InProcess {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
    pub topology: Topology,
    pub secrets: SandboxSecrets,
    stop: tokio::sync::watch::Sender<bool>,
}

fn bind() -> (std::net::TcpListener, Endpoint) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("bound");
    let endpoint = Endpoint {
        name: String::new(),
        address: addr.ip(),
        port: addr.port(),
    };
    (listener, endpoint)
}

impl InProcess {
    /// Serves `regions` and the global process until dropped.
    pub async fn start(regions: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::new(dir.path().join("sandbox"));
        std::fs::create_dir_all(&layout.root).unwrap();
        let secrets = SandboxSecrets::generate();
        secrets.store(&layout.credentials_file()).unwrap();
        let (global_listener, mut global) = bind();
        global.name = GLOBAL.to_owned();
        let mut listeners = vec![(Role::Global, global_listener)];
        let mut endpoints = Vec::new();
        for r in regions {
            let (l, mut e) = bind();
            e.name = (*r).to_owned();
            listeners.push((Role::Region((*r).to_owned()), l));
            endpoints.push(e);
        }
        let topology = Topology {
            shared_port: false,
            global,
            regions: endpoints,
            dns_port: None,
            edge_port: None,
            cdn_port: None,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        for (role, listener) in listeners {
            let mut stopped = stopped.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            tokio::spawn(server::serve_until(
                role,
                layout.clone(),
                topology.clone(),
                listener,
                shutdown,
            ));
        }
        let sandbox = InProcess {
            dir,
            layout,
            topology,
            secrets,
            stop,
        };
        for e in sandbox.topology.endpoints() {
            let control = ControlClient::new(&e.url(), &sandbox.secrets.control_token)
                .with_timeout(Duration::from_millis(500));
            let deadline = Instant::now() + Duration::from_secs(30);
            while control.ready().await.is_err() {
                assert!(Instant::now() < deadline, "{} never became ready", e.name);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        sandbox
    }

    /// A process's data directory (a region name or `global`).
    pub fn data_dir(&self, process: &str) -> PathBuf {
        self.layout.data_dir(process)
    }

    pub fn url(&self, process: &str) -> String {
        self.topology
            .endpoint(process)
            .expect("known process")
            .url()
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.secrets.access_key_id,
            &self.secrets.secret_access_key,
            None,
            None,
            "test",
        )
    }

    /// SDK config for a process's endpoint, signed for `signing_region`.
    pub fn config(&self, process: &str, signing_region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(signing_region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials()))
            .endpoint_url(self.url(process))
            .build()
    }

    pub fn region_config(&self, region: &str) -> SdkConfig {
        self.config(region, region)
    }

    /// A SigV4-signed raw request to `process`, for bodies no SDK sends.
    pub async fn signed(&self, process: &str, req: Signed<'_>) -> (u16, http::HeaderMap, String) {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4::SigningParams;
        let url = format!("{}{}", self.url(process), req.path);
        let host = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let amz_date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap();
        let mut headers: Vec<(String, String)> =
            vec![("host".into(), host), ("x-amz-date".into(), amz_date)];
        headers.extend(
            req.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())),
        );
        let identity = self.credentials().into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(req.region)
            .name(req.service)
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            req.method,
            req.path,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(req.body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut builder = http::Request::builder().method(req.method).uri(&url);
        for (k, v) in &headers {
            builder = builder.header(k, v);
        }
        let mut request = builder.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let client = reqwest::Client::new();
        let mut call = client.request(
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap(),
            &url,
        );
        for (k, v) in request.headers() {
            if k != http::header::HOST {
                call = call.header(k.as_str(), v.as_bytes());
            }
        }
        let resp = call.body(req.body.to_vec()).send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap_or_default())
    }
}

/// A raw request for [`InProcess::signed`].
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Makes every later save of `file` fail: a non-empty directory takes its
/// place, so the atomic rename cannot replace it (even as root, where a
/// read-only directory would not stop a write).
pub fn break_writes(file: &std::path::Path) {
    let _ = std::fs::remove_file(file);
    std::fs::create_dir_all(file.join("blocker")).expect("block the state file");
}
