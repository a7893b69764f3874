//! Attribute values from the SDK clients (DynamoDB and DynamoDB Streams
//! each have their own type) into DynamoDB's JSON form, which the engine
//! takes, and a canonical key string for version bookkeeping.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

macro_rules! to_json_fn {
    ($name:ident, $ty:ty) => {
        /// DynamoDB JSON (`{"S": "x"}`, `{"M": {...}}`, …) for one value.
        pub fn $name(av: &$ty) -> Value {
            use $ty as A;
            match av {
                A::S(s) => json!({"S": s}),
                A::N(n) => json!({"N": n}),
                A::B(b) => json!({"B": STANDARD.encode(b.as_ref())}),
                A::Ss(v) => json!({"SS": v}),
                A::Ns(v) => json!({"NS": v}),
                A::Bs(v) => json!({"BS": v.iter().map(|b| STANDARD.encode(b.as_ref())).collect::<Vec<_>>()}),
                A::M(m) => json!({"M": m.iter().map(|(k, v)| (k.clone(), $name(v))).collect::<serde_json::Map<_, _>>()}),
                A::L(l) => json!({"L": l.iter().map($name).collect::<Vec<_>>()}),
                A::Null(b) => json!({"NULL": b}),
                A::Bool(b) => json!({"BOOL": b}),
                _ => json!({"NULL": true}),
            }
        }
    };
}

to_json_fn!(stream_value, aws_sdk_dynamodbstreams::types::AttributeValue);
to_json_fn!(table_value, aws_sdk_dynamodb::types::AttributeValue);

/// An item from the Streams client as DynamoDB JSON.
pub fn stream_item(
    item: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), stream_value(v)))
            .collect(),
    )
}

/// An item from the DynamoDB client as DynamoDB JSON.
pub fn table_item(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), table_value(v)))
            .collect(),
    )
}

/// A canonical string for a key (attributes sorted by name).
pub fn canonical_key(key: &Value) -> String {
    let sorted: BTreeMap<&String, &Value> = key
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    serde_json::to_string(&sorted).expect("JSON values serialise")
}

/// The key attributes of `item` under `key_names`.
pub fn key_of(item: &Value, key_names: &[String]) -> Value {
    Value::Object(
        key_names
            .iter()
            .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::Blob;
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;

    #[test]
    fn converts_every_kind() {
        let v = A::M(HashMap::from([
            ("s".to_owned(), A::S("x".into())),
            ("b".to_owned(), A::B(Blob::new(b"hi".to_vec()))),
            (
                "l".to_owned(),
                A::L(vec![A::N("1".into()), A::Bool(true), A::Null(true)]),
            ),
        ]));
        let j = stream_value(&v);
        assert_eq!(j["M"]["s"], json!({"S": "x"}));
        assert_eq!(j["M"]["b"], json!({"B": "aGk="}));
        assert_eq!(j["M"]["l"]["L"][1], json!({"BOOL": true}));
    }

    #[test]
    fn canonical_keys_ignore_attribute_order() {
        let a = json!({"owner": {"S": "o"}, "id": {"S": "1"}});
        let b = json!({"id": {"S": "1"}, "owner": {"S": "o"}});
        assert_eq!(canonical_key(&a), canonical_key(&b));
    }
}
