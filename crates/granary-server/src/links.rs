//! Signed, expiring download links. A link names the org, the blob digest and a file name,
//! and carries an expiry and an HMAC-SHA256 over all four, keyed by a secret every replica
//! reads from the metadata store; so any replica honours a link any other issued, and a link
//! needs no other credential.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

type HmacSha256 = Hmac<Sha256>;

const SECRET_KEY: &str = "link_signing_key";

impl AppState {
    /// The signing secret, created once per registry by whichever replica needs it first.
    pub async fn link_secret(&self) -> ApiResult<&[u8]> {
        let secret = self
            .link_secret
            .get_or_try_init(|| async {
                let mut raw = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
                let stored = self.db.setting_or_init(SECRET_KEY, &hex::encode(raw)).await?;
                hex::decode(stored.trim()).map_err(|_| ApiError::internal("stored link signing key is not hex"))
            })
            .await?;
        Ok(secret.as_slice())
    }
}

fn mac(secret: &[u8], org: &str, digest: &str, file: &str, expires: i64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(format!("v1\n{org}\n{digest}\n{file}\n{expires}").as_bytes());
    m
}

/// The signature query value for a link.
pub fn sign(secret: &[u8], org: &str, digest: &str, file: &str, expires: i64) -> String {
    let tag = mac(secret, org, digest, file, expires).finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
}

/// Checks a link's signature (in constant time) and expiry.
pub fn verify(secret: &[u8], org: &str, digest: &str, file: &str, expires: i64, sig: &str, now: i64) -> ApiResult<()> {
    let denied = || ApiError::forbidden("this download link is invalid or has expired; request a new one");
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| denied())?;
    mac(secret, org, digest, file, expires)
        .verify_slice(&tag)
        .map_err(|_| denied())?;
    if now > expires {
        return Err(denied());
    }
    Ok(())
}

/// The file name a link serves: the last segment of the artifact path, as written. It is
/// signed as is and percent-encoded in the link's path ([`path_segment`]).
pub fn file_segment(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Bytes escaped in a URL path segment: everything but RFC 3986 unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `name` percent-encoded (UTF-8) for one URL path segment: `déjà vu.csv` →
/// `d%C3%A9j%C3%A0%20vu.csv`.
pub fn path_segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_every_field_and_expire() {
        let k = b"secret";
        let s = sign(k, "acme", "sha256:ab", "t.parquet", 100);
        assert!(verify(k, "acme", "sha256:ab", "t.parquet", 100, &s, 100).is_ok());
        assert!(
            verify(k, "acme", "sha256:ab", "t.parquet", 100, &s, 101).is_err(),
            "expired"
        );
        assert!(verify(k, "other", "sha256:ab", "t.parquet", 100, &s, 0).is_err());
        assert!(verify(k, "acme", "sha256:cd", "t.parquet", 100, &s, 0).is_err());
        assert!(verify(k, "acme", "sha256:ab", "u.parquet", 100, &s, 0).is_err());
        assert!(
            verify(k, "acme", "sha256:ab", "t.parquet", 999, &s, 0).is_err(),
            "extended expiry"
        );
        assert!(verify(b"other key", "acme", "sha256:ab", "t.parquet", 100, &s, 0).is_err());
        assert!(verify(k, "acme", "sha256:ab", "t.parquet", 100, "!!", 0).is_err());
        assert_eq!(file_segment("data/train split.parquet"), "train split.parquet");
        assert_eq!(
            path_segment("déjà vu 日本.csv"),
            "d%C3%A9j%C3%A0%20vu%20%E6%97%A5%E6%9C%AC.csv"
        );
    }
}
