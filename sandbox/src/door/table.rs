//! Operation tables: how a service finds the function that serves a
//! request, as a list of entries instead of one long `match`. An entry
//! names the operation as AWS does and, for the REST protocols, carries
//! its HTTP binding as the service model writes it (`GET
//! /2013-04-01/hostedzone/{Id}/rrset`, S3's `PUT /{Bucket}?website`), so
//! a table reads like the API's reference and each operation is one small
//! function.

/// One operation of a service: AWS's name for it, its HTTP binding (REST
/// protocols; `""` where the operation is named by `X-Amz-Target`) and the
/// function that serves it.
pub struct Operation<H> {
    pub name: &'static str,
    pub method: &'static str,
    /// Path segments, `{Name}` binding one and `{Name+}` the rest; an
    /// optional `?flag` requires that query parameter (S3 sub-resources).
    pub path: &'static str,
    pub handler: H,
}

/// An operation named by `X-Amz-Target` (awsJson protocols).
pub const fn named<H>(name: &'static str, handler: H) -> Operation<H> {
    Operation {
        name,
        method: "",
        path: "",
        handler,
    }
}

/// A REST operation bound to `method` and `path`.
pub const fn rest<H>(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    handler: H,
) -> Operation<H> {
    Operation {
        name,
        method,
        path,
        handler,
    }
}

/// The values a request's path gave an operation's `{Name}` labels.
#[derive(Debug, Clone, Default)]
pub struct Labels(Vec<(&'static str, String)>);

impl Labels {
    /// The value of label `name` (`""` when the pattern has none).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The operation `name` names in `table`.
pub fn by_name<'t, H>(table: &'t [Operation<H>], name: &str) -> Option<&'t Operation<H>> {
    table.iter().find(|op| op.name == name)
}

/// The first operation in `table` bound to `method` and the path
/// `segments` (with `has_param` telling which query parameters are
/// present), and the labels its pattern binds.
pub fn by_route<'t, H>(
    table: &'t [Operation<H>],
    method: &str,
    segments: &[&str],
    has_param: impl Fn(&str) -> bool,
) -> Option<(&'t Operation<H>, Labels)> {
    table.iter().find_map(|op| {
        if op.method != method {
            return None;
        }
        let (path, flag) = op.path.split_once('?').unwrap_or((op.path, ""));
        if !flag.is_empty() && !has_param(flag) {
            return None;
        }
        bind(path, segments).map(|labels| (op, labels))
    })
}

/// Matches `segments` against the path pattern `pattern`.
fn bind(pattern: &'static str, segments: &[&str]) -> Option<Labels> {
    let mut labels = Vec::new();
    let parts: Vec<&'static str> = pattern.trim_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let label = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
        match label {
            Some(greedy) if greedy.ends_with('+') => {
                let rest = segments.get(i..).filter(|r| !r.is_empty())?;
                labels.push((greedy.trim_end_matches('+'), rest.join("/")));
                return Some(Labels(labels));
            }
            Some(name) => labels.push((name, (*segments.get(i)?).to_owned())),
            None if segments.get(i) == Some(part) => {}
            None => return None,
        }
    }
    (parts.len() == segments.len()).then_some(Labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Operation<u8>] = &[
        rest("GetZone", "GET", "/2013-04-01/hostedzone/{Id}", 1),
        rest("ListRecords", "GET", "/2013-04-01/hostedzone/{Id}/rrset", 2),
        rest("GetWebsite", "GET", "/{Bucket}?website", 3),
        rest("ListObjects", "GET", "/{Bucket}", 4),
        rest("GetObject", "GET", "/{Bucket}/{Key+}", 5),
        named("GetId", 6),
    ];

    fn find(method: &str, segments: &[&str], query: &str) -> Option<(u8, Labels)> {
        by_route(TABLE, method, segments, |p| p == query).map(|(op, l)| (op.handler, l))
    }

    #[test]
    fn routes_bind_labels_and_need_their_flags() {
        let (h, l) = find("GET", &["2013-04-01", "hostedzone", "Z1", "rrset"], "").unwrap();
        assert_eq!((h, l.get("Id")), (2, "Z1"));
        assert_eq!(find("GET", &["b"], "website").unwrap().0, 3);
        assert_eq!(find("GET", &["b"], "").unwrap().0, 4);
        let (h, l) = find("GET", &["b", "a/b.txt"], "website").unwrap();
        assert_eq!((h, l.get("Key")), (5, "a/b.txt"));
        assert!(find("PUT", &["b"], "").is_none());
        assert!(find("DELETE", &["2013-04-01", "hostedzone", "Z1"], "").is_none());
        assert!(find("POST", &["b"], "website").is_none());
        assert_eq!(by_name(TABLE, "GetId").unwrap().handler, 6);
    }
}
