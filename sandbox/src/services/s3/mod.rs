//! S3 in a region: buckets, objects, website configuration, policies and
//! tags over the REST-XML API (path-style), and the website endpoint that
//! serves a public bucket's index and error documents, at
//! `http://<region address>:<port>/<bucket>/` or by `Host`
//! `<bucket>.s3-website.<region>.localhost`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::services::dynamodb::policy::{statements, strings};
use crate::services::lambda::percent_decode;
use crate::store::{OpenError, Store};
use crate::wire::http_date;

mod operations;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Object {
    file: String,
    size: u64,
    etag: String,
    content_type: String,
    last_modified: i64,
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Bucket {
    created: i64,
    website: Option<(String, Option<String>)>,
    policy: Option<String>,
    tags: BTreeMap<String, String>,
    objects: BTreeMap<String, Object>,
    /// Block Public Access: on for every new bucket, as on AWS since 2023.
    #[serde(default)]
    public_access_block: Option<PublicAccessBlock>,
}

/// The four Block Public Access switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PublicAccessBlock {
    block_public_acls: bool,
    ignore_public_acls: bool,
    block_public_policy: bool,
    restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    fn xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><BlockPublicAcls>{}</BlockPublicAcls><IgnorePublicAcls>{}</IgnorePublicAcls><BlockPublicPolicy>{}</BlockPublicPolicy><RestrictPublicBuckets>{}</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
            self.block_public_acls,
            self.ignore_public_acls,
            self.block_public_policy,
            self.restrict_public_buckets
        )
    }

    fn parse(doc: &str) -> Self {
        let flag = |tag: &str| xml_values(doc, tag).first().is_some_and(|v| v == "true");
        PublicAccessBlock {
            block_public_acls: flag("BlockPublicAcls"),
            ignore_public_acls: flag("IgnorePublicAcls"),
            block_public_policy: flag("BlockPublicPolicy"),
            restrict_public_buckets: flag("RestrictPublicBuckets"),
        }
    }
}

pub struct S3 {
    region: String,
    dir: PathBuf,
    buckets: Store<BTreeMap<String, Bucket>>,
}

/// An S3 error with its extra members (the door gives it S3's root
/// `<Error>` without namespace).
fn error(status: StatusCode, code: &str, message: &str, extra: &[(&str, &str)]) -> Outcome {
    let mut e = ServiceError::new(status, code, message);
    for (name, value) in extra {
        e = e.with(*name, *value);
    }
    Err(e)
}

fn xml(status: StatusCode, body: String) -> Outcome {
    Ok(Reply::new(body).status(status))
}

fn empty(status: StatusCode) -> Outcome {
    Ok(Reply::empty(status))
}

fn no_bucket(name: &str) -> Outcome {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist",
        &[("BucketName", name)],
    )
}

/// Values of `<tag>` elements in a small XML document.
fn xml_values(doc: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(
            after[..j]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[j + close.len()..];
    }
    out
}

/// Decodes an aws-chunked body (`<hex size>[;chunk-signature=…]\r\n<data>\r\n…0\r\n<trailers>`).
fn decode_aws_chunked(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

fn content_type_for(key: &str) -> &'static str {
    match key
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "html" | "htm" => "text/html",
        "js" | "mjs" => "application/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain",
        _ => "binary/octet-stream",
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl S3 {
    pub fn open(region: &str, dir: PathBuf) -> Result<Self, OpenError> {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(OpenError::create_dir(&data))?;
        let s3 = S3 {
            region: region.to_owned(),
            buckets: Store::open(dir.join("buckets.json"))?,
            dir,
        };
        // Each change removes the files it superseded; a crash can still
        // leave one written but never named.
        s3.collect_garbage(&s3.buckets.lock());
        Ok(s3)
    }

    /// The bucket a website request names, if any: by `Host`, or by the
    /// first path segment for an unsigned GET/HEAD of a website bucket.
    pub fn website_target(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<(String, String)> {
        if !matches!(*method, Method::GET | Method::HEAD)
            || headers.contains_key(http::header::AUTHORIZATION)
        {
            return None;
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let host = host.split(':').next().unwrap_or(host);
        // The sandbox's own form and both of AWS's website endpoint forms.
        let r = &self.region;
        let suffixes = [
            format!(".s3-website.{r}.localhost"),
            format!(".s3-website.{r}.amazonaws.com"),
            format!(".s3-website-{r}.amazonaws.com"),
        ];
        let buckets = self.buckets.lock();
        if let Some(bucket) = suffixes.iter().find_map(|s| host.strip_suffix(s.as_str())) {
            return Some((bucket.to_owned(), path.trim_start_matches('/').to_owned()));
        }
        let trimmed = path.trim_start_matches('/');
        let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        buckets
            .get(bucket)
            .filter(|b| b.website.is_some())
            .map(|_| (bucket.to_owned(), key.to_owned()))
    }

    /// A bucket's policy, if it has one.
    pub fn bucket_policy(&self, bucket: &str) -> Option<serde_json::Value> {
        let buckets = self.buckets.lock();
        serde_json::from_str(buckets.get(bucket)?.policy.as_deref()?).ok()
    }

    /// Serves the website endpoint of `bucket`.
    pub fn website(&self, method: &Method, bucket: &str, key: &str) -> Response {
        let buckets = self.buckets.lock();
        let html = |status: StatusCode, title: &str| {
            let mut r = Response::new(Body::from(format!(
                "<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>"
            )));
            *r.status_mut() = status;
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html"),
            );
            r
        };
        let Some(b) = buckets.get(bucket) else {
            return html(StatusCode::NOT_FOUND, "Not Found (NoSuchBucket)");
        };
        let Some((index, error_doc)) = &b.website else {
            return html(
                StatusCode::NOT_FOUND,
                "Not Found (NoSuchWebsiteConfiguration)",
            );
        };
        let restricted = b
            .public_access_block
            .is_some_and(|p| p.restrict_public_buckets);
        if restricted || !public_read(b.policy.as_deref(), bucket) {
            return html(StatusCode::FORBIDDEN, "Forbidden (AccessDenied)");
        }
        let key = percent_decode(key);
        let key = if key.is_empty() || key.ends_with('/') {
            format!("{key}{index}")
        } else {
            key
        };
        let serve = |status: StatusCode, k: &str| -> Option<Response> {
            let obj = b.objects.get(k)?;
            let data = std::fs::read(self.dir.join("data").join(&obj.file)).ok()?;
            let mut r = Response::new(if *method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(data)
            });
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(&obj.content_type).ok()?,
            );
            h.insert(http::header::ETAG, HeaderValue::from_str(&obj.etag).ok()?);
            h.insert(
                http::header::LAST_MODIFIED,
                HeaderValue::from_str(&http_date()).ok()?,
            );
            Some(r)
        };
        if let Some(r) = serve(StatusCode::OK, &key) {
            return r;
        }
        error_doc
            .as_deref()
            .and_then(|e| serve(StatusCode::NOT_FOUND, e))
            .unwrap_or_else(|| html(StatusCode::NOT_FOUND, "Not Found (NoSuchKey)"))
    }

    /// Serves one (authenticated) REST API request (path-style).
    pub fn handle(&self, input: &Input) -> Outcome {
        let (method, headers) = (&input.method, &input.headers);
        let query = input.query.as_deref();
        let path = input.path.as_str();
        let body = input.body.clone();
        let body = if headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            == Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        {
            match decode_aws_chunked(&body) {
                Some(b) => Bytes::from(b),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        "The aws-chunked body could not be decoded",
                        &[],
                    );
                }
            }
        } else {
            body
        };
        let params: BTreeMap<String, String> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        let trimmed = path.trim_start_matches('/');
        let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let key = percent_decode(key);
        if bucket.is_empty() {
            let buckets = self.buckets.lock();
            let list: String = buckets
                .iter()
                .map(|(n, b)| {
                    format!(
                        "<Bucket><Name>{n}</Name><CreationDate>{}</CreationDate></Bucket>",
                        iso(b.created)
                    )
                })
                .collect();
            return xml(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult><Owner><ID>sandbox</ID></Owner><Buckets>{list}</Buckets></ListAllMyBucketsResult>"
                ),
            );
        }
        let request = operations::Request {
            method: method.clone(),
            headers,
            bucket,
            key,
            params,
            text: String::from_utf8_lossy(&body).into_owned(),
            body,
        };
        let mut buckets = self.buckets.lock();
        let before = (*method != Method::GET && *method != Method::HEAD).then(|| buckets.clone());
        let has = |k: &str| {
            request.params.contains_key(k) || query.unwrap_or("").split('&').any(|p| p == k)
        };
        let response = operations::serve(self, &request, has, &mut buckets);
        if let Some(before) = before
            && response.is_ok()
        {
            let (was, now) = (files(&before), files(&buckets));
            if let Err(e) = self.buckets.commit(&mut buckets, before) {
                // Never saved: the files this change wrote name nothing.
                self.remove_files(now.difference(&was));
                return Err(e.into());
            }
            // Saved: only now may the files it superseded go.
            self.remove_files(was.difference(&now));
        }
        response
    }

    fn remove_files<'a>(&self, names: impl Iterator<Item = &'a String>) {
        for name in names {
            let _ = std::fs::remove_file(self.dir.join("data").join(name));
        }
    }

    /// Removes object files the saved state does not name (what a crash
    /// left between writing a file and saving the state that names it).
    fn collect_garbage(&self, buckets: &operations::Buckets) {
        let named = files(buckets);
        let Ok(entries) = std::fs::read_dir(self.dir.join("data")) else {
            return;
        };
        for entry in entries.flatten() {
            if !named.contains(entry.file_name().to_string_lossy().as_ref()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The object files a state names.
fn files(buckets: &operations::Buckets) -> std::collections::HashSet<String> {
    buckets
        .values()
        .flat_map(|b| b.objects.values().map(|o| o.file.clone()))
        .collect()
}

/// Whether a bucket policy lets anyone `s3:GetObject` its objects.
fn public_read(policy: Option<&str>, bucket: &str) -> bool {
    let Some(doc) = policy.and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()) else {
        return false;
    };
    statements(&doc).into_iter().any(|s| {
        let anyone =
            s["Principal"] == "*" || strings(&s["Principal"]["AWS"]).iter().any(|p| p == "*");
        s["Effect"] == "Allow"
            && anyone
            && strings(&s["Action"])
                .iter()
                .any(|a| crate::glob::matches_ignore_case(a, "s3:GetObject"))
            && strings(&s["Resource"])
                .iter()
                .any(|r| crate::glob::matches(r, &format!("arn:aws:s3:::{bucket}/index.html")))
    })
}

/// The name of the operation a request's method, path segments and query
/// parameters bind to (for IAM), with the path's labels.
pub(crate) fn operation_of(
    method: &str,
    segments: &[&str],
    has_param: impl Fn(&str) -> bool,
) -> Option<(&'static str, crate::door::table::Labels)> {
    crate::door::table::by_route(operations::OPERATIONS, method, segments, has_param)
        .map(|(op, labels)| (op.name, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_aws_chunked_bodies() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        assert_eq!(decode_aws_chunked(body).unwrap(), b"hello world");
        assert!(decode_aws_chunked(b"zz\r\n").is_none());
    }

    #[test]
    fn public_read_needs_an_allow_for_anyone() {
        let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#;
        assert!(public_read(Some(public), "site"));
        assert!(!public_read(Some(public), "other"));
        assert!(!public_read(None, "site"));
        assert_eq!(
            xml_values("<a><Key>x&amp;y</Key><Key>z</Key></a>", "Key"),
            ["x&y", "z"]
        );
    }
}
