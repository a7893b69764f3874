//! The ticket resource: what a caller may submit, how it is validated, and
//! the shape stored in DynamoDB and returned by the API.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

/// Shortest description accepted, in characters after trimming.
pub const DESCRIPTION_MIN_CHARS: usize = 10;
/// Longest description accepted, in characters after trimming.
pub const DESCRIPTION_MAX_CHARS: usize = 2000;

/// Categories a ticket may be filed under.
pub const CATEGORIES: &[&str] = &[
    "account", "billing", "driver", "ride", "app", "safety", "other",
];

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    /// Parses the wire and storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            _ => None,
        }
    }
}

/// The body of `POST /tickets`, exactly as submitted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub description: String,
    pub priority: Priority,
    #[serde(default)]
    pub category: Option<String>,
}

/// A field that failed validation, with a message fit for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl NewTicket {
    /// Checks the rules serde cannot express and returns the cleaned values.
    pub fn validate(self) -> Result<ValidTicket, FieldError> {
        let description = self.description.trim().to_owned();
        let chars = description.chars().count();
        if !(DESCRIPTION_MIN_CHARS..=DESCRIPTION_MAX_CHARS).contains(&chars) {
            return Err(FieldError {
                field: "description",
                message: format!(
                    "description must be {DESCRIPTION_MIN_CHARS} to {DESCRIPTION_MAX_CHARS} characters, got {chars}"
                ),
            });
        }
        if let Some(category) = &self.category
            && !CATEGORIES.contains(&category.as_str())
        {
            return Err(FieldError {
                field: "category",
                message: format!("category must be one of {}", CATEGORIES.join(", ")),
            });
        }
        Ok(ValidTicket {
            description,
            priority: self.priority,
            category: self.category,
        })
    }
}

/// A submission that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidTicket {
    pub description: String,
    pub priority: Priority,
    pub category: Option<String>,
}

/// Lifecycle of a ticket; the API only ever creates open ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Status::Open),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }
}

/// A stored ticket, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// The caller's Cognito identity id: the partition key.
    pub owner: String,
    /// A ULID: unique and ordered by creation time, the sort key.
    pub id: String,
    pub description: String,
    pub priority: Priority,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub status: Status,
    /// RFC 3339 in UTC with milliseconds.
    pub created_at: String,
    /// The region that accepted the write.
    pub region: String,
}

impl Ticket {
    /// A new open ticket for `owner`, stamped with `now`.
    pub fn open(owner: &str, valid: ValidTicket, region: &str, now: OffsetDateTime) -> Self {
        let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        Ticket {
            owner: owner.to_owned(),
            id: ulid::Ulid::from_parts(millis, rand_bits()).to_string(),
            description: valid.description,
            priority: valid.priority,
            category: valid.category,
            status: Status::Open,
            created_at: rfc3339_millis(now),
            region: region.to_owned(),
        }
    }
}

/// Formats `t` as RFC 3339 in UTC with exactly three fractional digits.
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("a UTC timestamp always formats")
}

fn rand_bits() -> u128 {
    ulid::Ulid::new().random()
}

/// Whether `id` is syntactically a ULID; anything else cannot name a ticket.
pub fn is_ticket_id(id: &str) -> bool {
    id.len() == 26 && ulid::Ulid::from_string(id).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(description: &str, category: Option<&str>) -> NewTicket {
        NewTicket {
            description: description.into(),
            priority: Priority::High,
            category: category.map(Into::into),
        }
    }

    #[test]
    fn description_bounds_count_characters_after_trimming() {
        assert!(new("  123456789  ", None).validate().is_err());
        assert!(new("1234567890", None).validate().is_ok());
        assert!(new(&"é".repeat(2000), None).validate().is_ok());
        assert_eq!(
            new(&"é".repeat(2001), None).validate().unwrap_err().field,
            "description"
        );
        assert_eq!(
            new(" my bike is gone ", None)
                .validate()
                .unwrap()
                .description,
            "my bike is gone"
        );
    }

    #[test]
    fn category_must_come_from_the_list() {
        assert!(new("a broken seat", Some("billing")).validate().is_ok());
        assert_eq!(
            new("a broken seat", Some("unicorns"))
                .validate()
                .unwrap_err()
                .field,
            "category"
        );
    }

    #[test]
    fn ids_are_time_ordered_ulids_and_timestamps_have_millis() {
        let t0 = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).unwrap();
        let t1 = t0 + time::Duration::milliseconds(1);
        let valid = new("a broken seat", None).validate().unwrap();
        let a = Ticket::open("o", valid.clone(), "eu-west-1", t0);
        let b = Ticket::open("o", valid, "eu-west-1", t1);
        assert!(a.id < b.id);
        assert!(is_ticket_id(&a.id));
        assert_eq!(a.created_at, "2023-11-14T22:13:20.123Z");
        assert!(!is_ticket_id("not-a-ulid"));
    }
}
