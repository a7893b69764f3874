//! Opaque, tamper-proof paging cursors.
//!
//! A cursor names the last ticket of a page and is bound to the caller with
//! an HMAC over (owner, id). A cursor that was edited, forged, or minted for
//! another caller fails verification and is answered 400: it can never be
//! used to read another user's tickets (queries are keyed on the caller
//! anyway; the MAC makes forgery visible instead of silently odd).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in the cursor: 128 bits.
const TAG_LEN: usize = 16;

/// Signs and verifies cursors with one key.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { key: <redacted> }")
    }
}

impl CursorCodec {
    /// A codec keyed with `secret` (the `CURSOR_SECRET` that `up` sets, the
    /// same in every instance and region so cursors survive failover).
    pub fn new(secret: &[u8]) -> Self {
        CursorCodec {
            key: secret.to_vec(),
        }
    }

    /// A codec for deployments without `CURSOR_SECRET`: keyed from the table
    /// name so that every instance agrees. Forgery still needs knowledge of
    /// the scheme, and cannot reach other users' data; set a secret anyway.
    pub fn derived(table: &str) -> Self {
        let key = Sha256::digest(format!("wildrydes-cursor:{table}"));
        CursorCodec { key: key.to_vec() }
    }

    /// The cursor that resumes `owner`'s listing after ticket `id`.
    pub fn encode(&self, owner: &str, id: &str) -> String {
        let tag = self.tag(owner, id);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(id),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        )
    }

    /// The ticket id to resume after, if `cursor` is genuine for `owner`.
    pub fn decode(&self, owner: &str, cursor: &str) -> Option<String> {
        let (id, tag) = cursor.split_once('.')?;
        let id = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_LEN {
            return None;
        }
        let expected = self.tag(owner, &id);
        bool::from(expected[..TAG_LEN].ct_eq(&tag)).then_some(id)
    }

    fn tag(&self, owner: &str, id: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        // Length-prefix the owner so (owner, id) pairs cannot be re-split.
        mac.update(&(owner.len() as u64).to_be_bytes());
        mac.update(owner.as_bytes());
        mac.update(id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_for_the_same_owner_only() {
        let codec = CursorCodec::new(b"secret");
        let c = codec.encode("eu-west-1:alice", "01HZX");
        assert_eq!(
            codec.decode("eu-west-1:alice", &c).as_deref(),
            Some("01HZX")
        );
        assert_eq!(codec.decode("eu-west-1:bob", &c), None);
    }

    #[test]
    fn rejects_edits_forgeries_and_other_keys() {
        let codec = CursorCodec::new(b"secret");
        let c = codec.encode("alice", "01HZX");
        let (_, tag) = c.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("01HZY"));
        assert_eq!(codec.decode("alice", &forged), None);
        assert_eq!(CursorCodec::new(b"other").decode("alice", &c), None);
        for garbage in ["", ".", "abc", "abc.def", "!!.!!", &c[..c.len() - 1]] {
            assert_eq!(codec.decode("alice", garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn derived_keys_agree_across_instances() {
        let a = CursorCodec::derived("t");
        let b = CursorCodec::derived("t");
        assert_eq!(b.decode("o", &a.encode("o", "1")).as_deref(), Some("1"));
        assert_eq!(
            CursorCodec::derived("u").decode("o", &a.encode("o", "1")),
            None
        );
    }
}
