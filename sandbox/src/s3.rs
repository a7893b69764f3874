//! S3 in a region: buckets, objects, website configuration, policies and
//! tags over the REST-XML API (path-style), and the website endpoint that
//! serves a public bucket's index and error documents, at
//! `http://<region address>:<port>/<bucket>/` or by `Host`
//! `<bucket>.s3-website.<region>.localhost`.
//!
//! Why over 800 lines: the service's state and every operation it serves
//! still live together; splitting it into `services/<service>/` (model,
//! operations, an operation table) is the open part of the restructure
//! (issue 11).

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::credentials::ACCOUNT_ID;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::dynamodb::policy::{statements, strings};
use crate::lambda::percent_decode;
use crate::store::Store;
use crate::wire::{http_date, xml_escape};

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
    pub fn open(region: &str, dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("data"))?;
        Ok(S3 {
            region: region.to_owned(),
            buckets: Store::open(dir.join("buckets.json"))?,
            dir,
        })
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

    /// Serves one REST API request (path-style).
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
        let has =
            |k: &str| params.contains_key(k) || query.unwrap_or("").split('&').any(|p| p == k);
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
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut buckets = self.buckets.lock();
        let before = (*method != Method::GET && *method != Method::HEAD).then(|| buckets.clone());
        let response = match (method.as_str(), key.is_empty()) {
            ("PUT", true) if has("website") => match buckets.get_mut(bucket) {
                Some(b) => {
                    let index = xml_values(&text, "Suffix").into_iter().next();
                    let Some(index) = index.filter(|i| !i.is_empty() && !i.contains('/')) else {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "InvalidArgument",
                            "The IndexDocument Suffix is not well formed",
                            &[],
                        );
                    };
                    let error_doc = xml_values(&xml_values(&text, "ErrorDocument").join(""), "Key")
                        .into_iter()
                        .next();
                    b.website = Some((index, error_doc));
                    empty(StatusCode::OK)
                }
                None => no_bucket(bucket),
            },
            ("GET", true) if has("website") => match buckets.get(bucket) {
                Some(Bucket {
                    website: Some((index, err)),
                    ..
                }) => {
                    let err = err
                        .as_ref()
                        .map(|e| {
                            format!(
                                "<ErrorDocument><Key>{}</Key></ErrorDocument>",
                                xml_escape(e)
                            )
                        })
                        .unwrap_or_default();
                    xml(
                        StatusCode::OK,
                        format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<WebsiteConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IndexDocument><Suffix>{}</Suffix></IndexDocument>{err}</WebsiteConfiguration>",
                            xml_escape(index)
                        ),
                    )
                }
                Some(_) => error(
                    StatusCode::NOT_FOUND,
                    "NoSuchWebsiteConfiguration",
                    "The specified bucket does not have a website configuration",
                    &[],
                ),
                None => no_bucket(bucket),
            },
            ("DELETE", true) if has("website") => match buckets.get_mut(bucket) {
                Some(b) => {
                    b.website = None;
                    empty(StatusCode::NO_CONTENT)
                }
                None => no_bucket(bucket),
            },
            ("PUT", true) if has("publicAccessBlock") => match buckets.get_mut(bucket) {
                Some(b) => {
                    b.public_access_block = Some(PublicAccessBlock::parse(&text));
                    empty(StatusCode::OK)
                }
                None => no_bucket(bucket),
            },
            ("GET", true) if has("publicAccessBlock") => match buckets.get(bucket) {
                Some(Bucket {
                    public_access_block: Some(p),
                    ..
                }) => xml(StatusCode::OK, p.xml()),
                Some(_) => error(
                    StatusCode::NOT_FOUND,
                    "NoSuchPublicAccessBlockConfiguration",
                    "The public access block configuration was not found",
                    &[("BucketName", bucket)],
                ),
                None => no_bucket(bucket),
            },
            ("DELETE", true) if has("publicAccessBlock") => match buckets.get_mut(bucket) {
                Some(b) => {
                    b.public_access_block = None;
                    empty(StatusCode::NO_CONTENT)
                }
                None => no_bucket(bucket),
            },
            ("PUT", true)
                if has("policy")
                    && buckets.get(bucket).is_some_and(|b| {
                        b.public_access_block.is_some_and(|p| p.block_public_policy)
                    })
                    && public_read(Some(&text), bucket) =>
            {
                error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    &format!(
                        "User: arn:aws:iam::{ACCOUNT_ID}:root is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::{bucket}\" because public policies are blocked by the BlockPublicPolicy block public access setting."
                    ),
                    &[],
                )
            }
            ("PUT", true) if has("policy") => match buckets.get_mut(bucket) {
                Some(b) => match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) if v.get("Statement").is_some() => {
                        b.policy = Some(text.clone());
                        empty(StatusCode::NO_CONTENT)
                    }
                    _ => error(
                        StatusCode::BAD_REQUEST,
                        "MalformedPolicy",
                        "Policies must be valid JSON and the first byte must be '{'",
                        &[],
                    ),
                },
                None => no_bucket(bucket),
            },
            ("GET", true) if has("policy") => match buckets.get(bucket) {
                Some(Bucket {
                    policy: Some(p), ..
                }) => Ok(Reply::new(p.clone()).content_type("application/json")),
                Some(_) => error(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucketPolicy",
                    "The bucket policy does not exist",
                    &[],
                ),
                None => no_bucket(bucket),
            },
            ("DELETE", true) if has("policy") => match buckets.get_mut(bucket) {
                Some(b) => {
                    b.policy = None;
                    empty(StatusCode::NO_CONTENT)
                }
                None => no_bucket(bucket),
            },
            ("PUT", true) if has("tagging") => match buckets.get_mut(bucket) {
                Some(b) => {
                    let keys = xml_values(&text, "Key");
                    let values = xml_values(&text, "Value");
                    b.tags = keys.into_iter().zip(values).collect();
                    empty(StatusCode::NO_CONTENT)
                }
                None => no_bucket(bucket),
            },
            ("GET", true) if has("tagging") => match buckets.get(bucket) {
                Some(b) if b.tags.is_empty() => error(
                    StatusCode::NOT_FOUND,
                    "NoSuchTagSet",
                    "The TagSet does not exist",
                    &[],
                ),
                Some(b) => {
                    let tags: String = b
                        .tags
                        .iter()
                        .map(|(k, v)| {
                            format!(
                                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                                xml_escape(k),
                                xml_escape(v)
                            )
                        })
                        .collect();
                    xml(
                        StatusCode::OK,
                        format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging><TagSet>{tags}</TagSet></Tagging>"
                        ),
                    )
                }
                None => no_bucket(bucket),
            },
            ("POST", true) if has("delete") => match buckets.get_mut(bucket) {
                Some(b) => {
                    let mut deleted = String::new();
                    for k in xml_values(&text, "Key") {
                        if let Some(o) = b.objects.remove(&k) {
                            let _ = std::fs::remove_file(self.dir.join("data").join(o.file));
                        }
                        deleted
                            .push_str(&format!("<Deleted><Key>{}</Key></Deleted>", xml_escape(&k)));
                    }
                    xml(
                        StatusCode::OK,
                        format!(
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{deleted}</DeleteResult>"
                        ),
                    )
                }
                None => no_bucket(bucket),
            },
            ("PUT", true) => {
                let valid = (3..=63).contains(&bucket.len())
                    && bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
                    && !bucket.starts_with(['-', '.']);
                if !valid {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidBucketName",
                        "The specified bucket is not valid.",
                        &[("BucketName", bucket)],
                    );
                }
                let constraint = xml_values(&text, "LocationConstraint")
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| "us-east-1".into());
                if constraint != self.region {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "IllegalLocationConstraintException",
                        &format!(
                            "The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to."
                        ),
                        &[],
                    );
                }
                if buckets.contains_key(bucket) {
                    return error(
                        StatusCode::CONFLICT,
                        "BucketAlreadyOwnedByYou",
                        "Your previous request to create the named bucket succeeded and you already own it.",
                        &[("BucketName", bucket)],
                    );
                }
                buckets.insert(
                    bucket.to_owned(),
                    Bucket {
                        created: now(),
                        public_access_block: Some(PublicAccessBlock::ALL),
                        ..Default::default()
                    },
                );
                Ok(Reply::empty(StatusCode::OK).header("location", format!("/{bucket}")))
            }
            ("HEAD", true) => match buckets.get(bucket) {
                Some(_) => {
                    Ok(Reply::empty(StatusCode::OK).header("x-amz-bucket-region", &self.region))
                }
                None => empty(StatusCode::NOT_FOUND),
            },
            ("DELETE", true) => match buckets.get(bucket) {
                Some(b) if !b.objects.is_empty() => error(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                    &[("BucketName", bucket)],
                ),
                Some(_) => {
                    buckets.remove(bucket);
                    empty(StatusCode::NO_CONTENT)
                }
                None => no_bucket(bucket),
            },
            ("GET", true) => match buckets.get(bucket) {
                Some(b) => list_objects(bucket, b, &params),
                None => no_bucket(bucket),
            },
            ("PUT", false) => match buckets.get_mut(bucket) {
                Some(b) => {
                    let digest = md5_like(&body);
                    let file = hex::encode(Sha256::digest(format!("{bucket}/{key}").as_bytes()));
                    if let Err(e) = std::fs::write(self.dir.join("data").join(&file), &body) {
                        return error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "InternalError",
                            &e.to_string(),
                            &[],
                        );
                    }
                    let metadata = headers
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((
                                k.as_str().strip_prefix("x-amz-meta-")?.to_owned(),
                                v.to_str().ok()?.to_owned(),
                            ))
                        })
                        .collect();
                    let content_type = headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .unwrap_or_else(|| content_type_for(&key).to_owned());
                    b.objects.insert(
                        key.clone(),
                        Object {
                            file,
                            size: body.len() as u64,
                            etag: digest.clone(),
                            content_type,
                            last_modified: now(),
                            metadata,
                        },
                    );
                    Ok(Reply::empty(StatusCode::OK).header("etag", &digest))
                }
                None => no_bucket(bucket),
            },
            ("GET" | "HEAD", false) => match buckets.get(bucket).map(|b| b.objects.get(&key)) {
                None => no_bucket(bucket),
                Some(None) => {
                    if *method == Method::HEAD {
                        empty(StatusCode::NOT_FOUND)
                    } else {
                        error(
                            StatusCode::NOT_FOUND,
                            "NoSuchKey",
                            "The specified key does not exist.",
                            &[("Key", &key)],
                        )
                    }
                }
                Some(Some(o)) => {
                    let data =
                        std::fs::read(self.dir.join("data").join(&o.file)).unwrap_or_default();
                    let data = if *method == Method::HEAD {
                        Vec::new()
                    } else {
                        data
                    };
                    let mut r = Reply::new(data)
                        .content_type(&o.content_type)
                        .header("content-length", o.size.to_string())
                        .header("etag", &o.etag)
                        .header("last-modified", http_date());
                    for (k, v) in &o.metadata {
                        r = r.header(format!("x-amz-meta-{k}"), v);
                    }
                    Ok(r)
                }
            },
            ("DELETE", false) => match buckets.get_mut(bucket) {
                Some(b) => {
                    if let Some(o) = b.objects.remove(&key) {
                        let _ = std::fs::remove_file(self.dir.join("data").join(o.file));
                    }
                    empty(StatusCode::NO_CONTENT)
                }
                None => no_bucket(bucket),
            },
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                &[],
            ),
        };
        if let Some(before) = before
            && response.is_ok()
        {
            self.buckets.commit(&mut buckets, before)?;
        }
        response
    }
}

/// An ETag: quoted hex digest of the content (SHA-256 truncated to MD5's
/// length; clients compare ETags, they do not recompute them).
fn md5_like(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

fn list_objects(bucket: &str, b: &Bucket, params: &BTreeMap<String, String>) -> Outcome {
    let prefix = params.get("prefix").cloned().unwrap_or_default();
    let max = params
        .get("max-keys")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    let start = params
        .get("continuation-token")
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|t| String::from_utf8(t).ok())
        .or_else(|| params.get("start-after").cloned());
    let keys: Vec<(&String, &Object)> = b
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && start.as_ref().is_none_or(|s| *k > s))
        .take(max + 1)
        .collect();
    let truncated = keys.len() > max;
    let page = &keys[..keys.len().min(max)];
    let contents: String = page
        .iter()
        .map(|(k, o)| format!("<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>", xml_escape(k), iso(o.last_modified), xml_escape(&o.etag), o.size))
        .collect();
    let next = if truncated {
        format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            base64::engine::general_purpose::STANDARD
                .encode(page.last().map(|(k, _)| k.as_str()).unwrap_or(""))
        )
    } else {
        String::new()
    };
    xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>{contents}{next}</ListBucketResult>",
            xml_escape(bucket),
            xml_escape(&prefix),
            page.len()
        ),
    )
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
