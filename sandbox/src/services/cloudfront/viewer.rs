//! CloudFront's edge: serves viewers each distribution's content from its
//! origin, cached per the default cache behaviour's TTLs until they expire
//! or an invalidation removes them (see the parent module's comment).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{Cached, CloudFront, DOMAIN_SUFFIX, Distribution, Settings};
use crate::wire::{request_id, xml_escape};

impl CloudFront {
    /// The distribution a viewer request is for (see the module comment).
    fn viewer_target(&self, host: &str) -> Option<Distribution> {
        let bare = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let d = self.distributions.lock();
        match bare.strip_suffix(DOMAIN_SUFFIX) {
            Some(id) => d.get(&id.to_ascii_uppercase()).cloned(),
            None => d
                .values()
                .filter(|x| x.settings().is_some_and(|s| s.enabled))
                .max_by_key(|x| x.modified_ms)
                .cloned(),
        }
    }

    /// Serves a viewer request.
    async fn view(&self, method: &Method, path: &str, host: &str) -> Response {
        let Some(x) = self.viewer_target(host) else {
            return viewer_error(StatusCode::FORBIDDEN, "Bad request.");
        };
        let Some(settings) = x.settings().filter(|s| s.enabled) else {
            return viewer_error(StatusCode::FORBIDDEN, "The distribution is disabled.");
        };
        if !matches!(*method, Method::GET | Method::HEAD) {
            return viewer_error(
                StatusCode::FORBIDDEN,
                "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.",
            );
        }
        let path = match (&settings.default_root_object, path) {
            (Some(root), "/") => format!("/{root}"),
            _ => path.to_owned(),
        };
        let key = (x.id.clone(), path.clone());
        let hit = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&key)
                .filter(|c| c.stored.elapsed() < c.ttl)
                .map(|c| {
                    (
                        c.status,
                        c.headers.clone(),
                        c.body.clone(),
                        c.stored.elapsed().as_secs(),
                    )
                })
        };
        let mut resp = match hit {
            Some((status, headers, body, age)) => {
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = status;
                *r.headers_mut() = headers;
                set(&mut r, "age", &age.to_string());
                set(&mut r, "x-cache", "Hit from cloudfront");
                r
            }
            None => match self.fetch(&settings, &path).await {
                Ok((status, headers, body)) => {
                    let ttl = ttl_for(&headers, settings.ttl);
                    if status == StatusCode::OK && ttl > 0 {
                        remember(
                            &mut self.cache.lock().unwrap_or_else(|p| p.into_inner()),
                            key,
                            Cached {
                                status,
                                headers: headers.clone(),
                                body: body.clone(),
                                stored: Instant::now(),
                                ttl: Duration::from_secs(ttl),
                            },
                            CACHE_LIMIT,
                        );
                    }
                    let mut r = Response::new(Body::from(body));
                    *r.status_mut() = status;
                    *r.headers_mut() = headers;
                    set(&mut r, "x-cache", "Miss from cloudfront");
                    r
                }
                Err(message) => viewer_error(StatusCode::BAD_GATEWAY, &message),
            },
        };
        set(
            &mut resp,
            "via",
            &format!("1.1 {} (CloudFront)", x.domain()),
        );
        set(&mut resp, "x-amz-cf-pop", "SANDBOX1");
        set(&mut resp, "x-amz-cf-id", &request_id());
        // For HEAD the server drops the body after setting Content-Length
        // from it, as CloudFront reports the object's length.
        resp
    }

    /// Fetches `path` from the distribution's target origin.
    async fn fetch(
        &self,
        settings: &Settings,
        path: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let (_, domain, origin_path) = settings
            .origins
            .iter()
            .find(|(id, _, _)| *id == settings.target_origin)
            .ok_or("the target origin is gone")?;
        let endpoint = self.route53.service_endpoint(domain).ok_or_else(|| {
            format!("CloudFront wasn't able to connect to the origin {domain}: it is no sandbox S3 website endpoint.")
        })?;
        let url = format!("{}{origin_path}{path}", endpoint.url());
        let upstream = self
            .http
            .get(&url)
            .header(http::header::HOST, domain.as_str())
            .send()
            .await
            .map_err(|e| {
                format!("CloudFront wasn't able to connect to the origin {domain}: {e}")
            })?;
        let status = upstream.status();
        let mut headers = upstream.headers().clone();
        for h in [
            "connection",
            "transfer-encoding",
            "content-length",
            "keep-alive",
        ] {
            headers.remove(h);
        }
        let body = upstream
            .bytes()
            .await
            .map_err(|e| format!("the origin's response broke off: {e}"))?;
        Ok((status, headers, body))
    }
}

/// The object's TTL: the origin's `Cache-Control` max-age clamped to the
/// behaviour's bounds, else its default; not cached for `no-store`,
/// `no-cache` or `private` unless the minimum says otherwise.
fn ttl_for(headers: &HeaderMap, (min, default, max): (u64, u64, u64)) -> u64 {
    let cc = headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let directive = |name: &str| {
        cc.split(',').find_map(|d| {
            d.trim()
                .strip_prefix(name)
                .and_then(|v| v.strip_prefix('='))
                .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
        })
    };
    if ["no-store", "no-cache", "private"]
        .iter()
        .any(|d| cc.split(',').any(|x| x.trim() == *d))
    {
        return min;
    }
    match directive("s-maxage").or_else(|| directive("max-age")) {
        Some(age) => age.clamp(min, max.max(min)),
        None => default.clamp(min, max.max(min)),
    }
}

fn set(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// CloudFront's own error page.
fn viewer_error(status: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>\n<H1>{} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n{}\n</BODY></HTML>",
        status.as_u16(),
        xml_escape(message)
    )));
    *r.status_mut() = status;
    set(&mut r, "content-type", "text/html");
    set(&mut r, "x-cache", "Error from cloudfront");
    r
}

async fn viewer(State(cf): State<Arc<CloudFront>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    cf.view(req.method(), req.uri().path(), &host).await
}

/// Serves the viewer side on the listener `start` handed over.
pub fn serve(cf: Arc<CloudFront>, listener: std::net::TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = axum::Router::new().fallback(viewer).with_state(cf);
    tokio::spawn(async move {
        let listener =
            crate::limits::LimitedListener::new(listener, crate::limits::MAX_CONNECTIONS);
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the CloudFront edge stopped: {e}");
        }
    });
    Ok(())
}

/// How much the edge keeps: bytes of bodies and number of objects.
const CACHE_LIMIT: (usize, usize) = (64 << 20, 4096);

type Cache = std::collections::HashMap<(String, String), Cached>;

/// Stores `entry`, keeping the cache within `(bytes, entries)`: expired
/// objects go first, then the oldest stored, so memory stays bounded
/// however many objects viewers ask for. An object larger than the whole
/// budget is served but not kept.
fn remember(cache: &mut Cache, key: (String, String), entry: Cached, limit: (usize, usize)) {
    let (max_bytes, max_entries) = limit;
    if entry.body.len() > max_bytes {
        return;
    }
    cache.remove(&key);
    cache.retain(|_, c| c.stored.elapsed() < c.ttl);
    let mut bytes: usize = cache.values().map(|c| c.body.len()).sum();
    while !cache.is_empty() && (bytes + entry.body.len() > max_bytes || cache.len() >= max_entries)
    {
        let oldest = cache
            .iter()
            .min_by_key(|(_, c)| c.stored)
            .map(|(k, _)| k.clone())
            .expect("not empty");
        if let Some(gone) = cache.remove(&oldest) {
            bytes -= gone.body.len();
        }
    }
    cache.insert(key, entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_follows_cache_control_within_the_bounds() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_str(v).unwrap(),
            );
            m
        };
        let bounds = (0, 86_400, 31_536_000);
        assert_eq!(ttl_for(&HeaderMap::new(), bounds), 86_400);
        assert_eq!(ttl_for(&h("max-age=60"), bounds), 60);
        assert_eq!(ttl_for(&h("public, s-maxage=5, max-age=60"), bounds), 5);
        assert_eq!(ttl_for(&h("no-store"), bounds), 0);
        assert_eq!(ttl_for(&h("max-age=60"), (120, 300, 600)), 120);
        assert_eq!(ttl_for(&h("max-age=6000"), (0, 300, 600)), 600);
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_entries() {
        let entry = |size: usize, ttl: u64| Cached {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![0u8; size]),
            stored: Instant::now(),
            ttl: Duration::from_secs(ttl),
        };
        let key = |n: usize| ("E1".to_owned(), format!("/{n}"));
        let mut cache = Cache::new();
        for n in 0..1000 {
            remember(&mut cache, key(n), entry(100, 60), (1_000, 8));
            let bytes: usize = cache.values().map(|c| c.body.len()).sum();
            assert!(
                bytes <= 1_000 && cache.len() <= 8,
                "after {n}: {bytes} bytes, {} entries",
                cache.len()
            );
            assert!(cache.contains_key(&key(n)), "the newest is kept");
        }
        // Byte-bound: two 400-byte objects fit, the third evicts the oldest.
        let mut cache = Cache::new();
        for n in 0..3 {
            remember(&mut cache, key(n), entry(400, 60), (1_000, 100));
        }
        assert!(!cache.contains_key(&key(0)) && cache.len() == 2);
        // Too big for the whole budget: not kept, nothing evicted for it.
        remember(&mut cache, key(9), entry(5_000, 60), (1_000, 100));
        assert!(!cache.contains_key(&key(9)) && cache.len() == 2);
        // Expired objects go before live ones.
        let mut cache = Cache::new();
        remember(&mut cache, key(0), entry(10, 0), (1_000, 2));
        remember(&mut cache, key(1), entry(10, 60), (1_000, 2));
        remember(&mut cache, key(2), entry(10, 60), (1_000, 2));
        assert!(cache.contains_key(&key(1)) && cache.contains_key(&key(2)));
    }
}
