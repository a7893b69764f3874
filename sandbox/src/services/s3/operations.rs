//! S3's REST API operations: one function per API operation, found
//! through the operation table [`OPERATIONS`] by method, path (bucket, or
//! bucket and key) and sub-resource, each given the decoded request and
//! the locked buckets.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};

use super::{
    Bucket, Object, PublicAccessBlock, S3, content_type_for, empty, error, iso, no_bucket, now,
    public_read, xml, xml_values,
};
use crate::credentials::ACCOUNT_ID;
use crate::door::table::{Operation, by_route, rest};
use crate::door::{Outcome, Reply};
use crate::topology::write_atomic;
use crate::wire::{http_date, tag_elements, xml_escape};

/// A region's buckets by name.
pub(super) type Buckets = BTreeMap<String, Bucket>;

/// What an operation gets from the request.
pub(super) struct Request<'a> {
    pub method: Method,
    pub headers: &'a HeaderMap,
    pub bucket: &'a str,
    /// The object key, percent-decoded (`""` for bucket operations).
    pub key: String,
    pub params: BTreeMap<String, String>,
    /// The body (aws-chunked bodies decoded).
    pub body: Bytes,
    /// The body as text, for the XML and JSON documents of bucket operations.
    pub text: String,
}

type Handler = fn(&S3, &Request, &mut Buckets) -> Outcome;

/// S3's operations by HTTP binding, first match wins: a sub-resource
/// (`?website`) picks its operation before the bare bucket's.
#[rustfmt::skip]
pub(super) const OPERATIONS: &[Operation<Handler>] = &[
    rest("PutBucketWebsite", "PUT", "/{Bucket}?website", put_bucket_website),
    rest("GetBucketWebsite", "GET", "/{Bucket}?website", get_bucket_website),
    rest("DeleteBucketWebsite", "DELETE", "/{Bucket}?website", delete_bucket_website),
    rest("PutPublicAccessBlock", "PUT", "/{Bucket}?publicAccessBlock", put_public_access_block),
    rest("GetPublicAccessBlock", "GET", "/{Bucket}?publicAccessBlock", get_public_access_block),
    rest("DeletePublicAccessBlock", "DELETE", "/{Bucket}?publicAccessBlock", delete_public_access_block),
    rest("PutBucketPolicy", "PUT", "/{Bucket}?policy", put_bucket_policy),
    rest("GetBucketPolicy", "GET", "/{Bucket}?policy", get_bucket_policy),
    rest("DeleteBucketPolicy", "DELETE", "/{Bucket}?policy", delete_bucket_policy),
    rest("PutBucketTagging", "PUT", "/{Bucket}?tagging", put_bucket_tagging),
    rest("GetBucketTagging", "GET", "/{Bucket}?tagging", get_bucket_tagging),
    rest("DeleteObjects", "POST", "/{Bucket}?delete", delete_objects),
    rest("CreateBucket", "PUT", "/{Bucket}", create_bucket),
    rest("HeadBucket", "HEAD", "/{Bucket}", head_bucket),
    rest("DeleteBucket", "DELETE", "/{Bucket}", delete_bucket),
    rest("ListObjects", "GET", "/{Bucket}", list_bucket),
    rest("PutObject", "PUT", "/{Bucket}/{Key+}", put_object),
    rest("GetObject", "GET", "/{Bucket}/{Key+}", get_object),
    rest("HeadObject", "HEAD", "/{Bucket}/{Key+}", get_object),
    rest("DeleteObject", "DELETE", "/{Bucket}/{Key+}", delete_object),
];

/// Serves the operation a request names; `has` tells which query
/// parameters it carries.
pub(super) fn serve(
    s3: &S3,
    request: &Request,
    has: impl Fn(&str) -> bool,
    buckets: &mut Buckets,
) -> Outcome {
    let path = [request.bucket, request.key.as_str()];
    let segments = if request.key.is_empty() {
        &path[..1]
    } else {
        &path[..]
    };
    match by_route(OPERATIONS, request.method.as_str(), segments, has) {
        Some((op, _)) => (op.handler)(s3, request, buckets),
        None => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            &[],
        ),
    }
}

fn put_bucket_website(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let text = &request.text;
    match buckets.get_mut(bucket) {
        Some(b) => {
            let index = xml_values(text, "Suffix").into_iter().next();
            let Some(index) = index.filter(|i| !i.is_empty() && !i.contains('/')) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "The IndexDocument Suffix is not well formed",
                    &[],
                );
            };
            let error_doc = xml_values(&xml_values(text, "ErrorDocument").join(""), "Key")
                .into_iter()
                .next();
            b.website = Some((index, error_doc));
            empty(StatusCode::OK)
        }
        None => no_bucket(bucket),
    }
}

fn get_bucket_website(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get(bucket) {
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
    }
}

fn delete_bucket_website(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get_mut(bucket) {
        Some(b) => {
            b.website = None;
            empty(StatusCode::NO_CONTENT)
        }
        None => no_bucket(bucket),
    }
}

fn put_public_access_block(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let text = &request.text;
    match buckets.get_mut(bucket) {
        Some(b) => {
            b.public_access_block = Some(PublicAccessBlock::parse(text));
            empty(StatusCode::OK)
        }
        None => no_bucket(bucket),
    }
}

fn get_public_access_block(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get(bucket) {
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
    }
}

fn delete_public_access_block(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get_mut(bucket) {
        Some(b) => {
            b.public_access_block = None;
            empty(StatusCode::NO_CONTENT)
        }
        None => no_bucket(bucket),
    }
}

fn put_bucket_policy(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let text = &request.text;
    if buckets
        .get(bucket)
        .is_some_and(|b| b.public_access_block.is_some_and(|p| p.block_public_policy))
        && public_read(Some(text), bucket)
    {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::{ACCOUNT_ID}:root is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::{bucket}\" because public policies are blocked by the BlockPublicPolicy block public access setting."
            ),
            &[],
        );
    }
    match buckets.get_mut(bucket) {
        Some(b) => match serde_json::from_str::<serde_json::Value>(text) {
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
    }
}

fn get_bucket_policy(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get(bucket) {
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
    }
}

fn delete_bucket_policy(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get_mut(bucket) {
        Some(b) => {
            b.policy = None;
            empty(StatusCode::NO_CONTENT)
        }
        None => no_bucket(bucket),
    }
}

fn put_bucket_tagging(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let text = &request.text;
    match buckets.get_mut(bucket) {
        Some(b) => {
            let keys = xml_values(text, "Key");
            let values = xml_values(text, "Value");
            b.tags = keys.into_iter().zip(values).collect();
            empty(StatusCode::NO_CONTENT)
        }
        None => no_bucket(bucket),
    }
}

fn get_bucket_tagging(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get(bucket) {
        Some(b) if b.tags.is_empty() => error(
            StatusCode::NOT_FOUND,
            "NoSuchTagSet",
            "The TagSet does not exist",
            &[],
        ),
        Some(b) => {
            let tags = tag_elements(&b.tags);
            xml(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging><TagSet>{tags}</TagSet></Tagging>"
                ),
            )
        }
        None => no_bucket(bucket),
    }
}

fn delete_objects(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let text = &request.text;
    match buckets.get_mut(bucket) {
        Some(b) => {
            let mut deleted = String::new();
            for k in xml_values(text, "Key") {
                // Its file goes once the change is saved (S3::handle).
                b.objects.remove(&k);
                deleted.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", xml_escape(&k)));
            }
            xml(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{deleted}</DeleteResult>"
                ),
            )
        }
        None => no_bucket(bucket),
    }
}

fn create_bucket(s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let text = &request.text;
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.']);
    if !valid {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
            &[("BucketName", bucket)],
        );
    }
    let constraint = xml_values(text, "LocationConstraint")
        .into_iter()
        .next()
        .unwrap_or_else(|| "us-east-1".into());
    if constraint != s3.region {
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

fn head_bucket(s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get(bucket) {
        Some(_) => Ok(Reply::empty(StatusCode::OK).header("x-amz-bucket-region", &s3.region)),
        None => empty(StatusCode::NOT_FOUND),
    }
}

fn delete_bucket(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    match buckets.get(bucket) {
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
    }
}

fn list_bucket(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let params = &request.params;
    match buckets.get(bucket) {
        Some(b) => list_objects(bucket, b, params),
        None => no_bucket(bucket),
    }
}

fn put_object(s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let key = request.key.clone();
    let body = &request.body;
    let headers = &request.headers;
    match buckets.get_mut(bucket) {
        Some(b) => {
            let digest = md5_like(body);
            // A new file per content, written whole before the state names
            // it: an overwrite cut short leaves the old object as it was.
            let file = format!(
                "{}.{}",
                hex::encode(Sha256::digest(format!("{bucket}/{key}").as_bytes())),
                &hex::encode(Sha256::digest(body))[..16]
            );
            if let Err(e) = write_atomic(&s3.dir.join("data").join(&file), body, 0o600) {
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
    }
}

fn get_object(s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let key = request.key.clone();
    let method = &request.method;
    match buckets.get(bucket).map(|b| b.objects.get(&key)) {
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
            let data = std::fs::read(s3.dir.join("data").join(&o.file)).unwrap_or_default();
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
    }
}

fn delete_object(_s3: &S3, request: &Request, buckets: &mut Buckets) -> Outcome {
    let bucket = request.bucket;
    let key = request.key.clone();
    match buckets.get_mut(bucket) {
        Some(b) => {
            // Its file goes once the change is saved (S3::handle).
            b.objects.remove(&key);
            empty(StatusCode::NO_CONTENT)
        }
        None => no_bucket(bucket),
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
