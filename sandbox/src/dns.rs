//! The sandbox's authoritative DNS (hickory): every hosted zone of the
//! sandbox's Route 53, answered at query time so a failover flag flip shows
//! on the next query, each answer with its record's TTL. A names outside
//! every zone are REFUSED, names inside a zone without records NXDOMAIN.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::services::route53::{Route53, fqdn};

/// Answers DNS queries from the sandbox's Route 53.
pub struct DnsHandler {
    pub route53: Arc<Route53>,
}

/// What a query finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The name is in no sandbox zone.
    Refused,
    /// The name is in a zone but has no records at all.
    NxDomain,
    /// Records (possibly none of the asked type), with their TTL.
    Records(Vec<RData>, u32),
}

impl Route53 {
    /// The answer to a query for `name` and `rtype` now.
    pub fn answer(&self, name: &str, rtype: RecordType) -> Answer {
        let name = fqdn(name);
        let (exists, raw) = {
            let s = self.state.lock();
            let Some(zone) = s.zone_for(&name) else {
                return Answer::Refused;
            };
            let exists = zone.records.iter().any(|r| r.name == name);
            let raw: Vec<(String, Vec<String>, u64)> = zone
                .records
                .iter()
                .filter(|r| r.name == name && r.alias.is_none() && r.rtype == rtype.to_string())
                .map(|r| (r.rtype.clone(), r.values.clone(), r.ttl.unwrap_or(300)))
                .collect();
            (exists, raw)
        };
        if !exists {
            return Answer::NxDomain;
        }
        match rtype {
            RecordType::A | RecordType::AAAA => match self.resolve(&name) {
                Some((ips, ttl)) => {
                    let data = ips
                        .into_iter()
                        .filter_map(|ip| match (ip, rtype) {
                            (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
                            (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
                            _ => None,
                        })
                        .collect();
                    Answer::Records(data, ttl as u32)
                }
                None => Answer::Records(Vec::new(), 60),
            },
            _ => {
                let mut data = Vec::new();
                let mut ttl = 300;
                for (kind, values, t) in raw {
                    ttl = t as u32;
                    for v in values {
                        let parsed = match kind.as_str() {
                            "TXT" => {
                                Some(RData::TXT(TXT::new(vec![v.trim_matches('"').to_owned()])))
                            }
                            "CNAME" => Name::from_ascii(&v).ok().map(|n| RData::CNAME(CNAME(n))),
                            "NS" => Name::from_ascii(&v).ok().map(|n| RData::NS(NS(n))),
                            _ => None,
                        };
                        data.extend(parsed);
                    }
                }
                Answer::Records(data, ttl)
            }
        }
    }
}

/// What to report when the answer could not be sent.
fn serve_failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let Ok(info) = request.request_info() else {
            let response = MessageResponseBuilder::from_message_request(request)
                .error_msg(&request.metadata, ResponseCode::FormErr);
            return response_handle
                .send_response(response)
                .await
                .unwrap_or_else(|_| serve_failed(request));
        };
        let name = info.query.name().to_string();
        let rtype = info.query.query_type();
        let answer = self.route53.answer(&name, rtype);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let records: Vec<Record> = match &answer {
            Answer::Records(data, ttl) => {
                let owner = Name::from_ascii(fqdn(&name)).unwrap_or_default();
                data.iter()
                    .map(|d| Record::from_rdata(owner.clone(), *ttl, d.clone()))
                    .collect()
            }
            _ => Vec::new(),
        };
        metadata.response_code = match answer {
            Answer::Refused => ResponseCode::Refused,
            Answer::NxDomain => ResponseCode::NXDomain,
            Answer::Records(..) => ResponseCode::NoError,
        };
        if metadata.response_code == ResponseCode::Refused {
            metadata.authoritative = false;
        }
        let response = MessageResponseBuilder::from_message_request(request).build(
            metadata,
            records.iter(),
            [],
            [],
            [],
        );
        response_handle
            .send_response(response)
            .await
            .unwrap_or_else(|_| serve_failed(request))
    }
}
