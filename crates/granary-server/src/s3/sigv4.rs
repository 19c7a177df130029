//! AWS Signature Version 4 verification for the `/s3` endpoint: header authentication
//! (`Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`) and
//! presigned query authentication (`X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=…`),
//! as the AWS documentation "Authenticating Requests (AWS Signature Version 4)" for Amazon
//! S3 defines them. The canonical URI is the request path decoded once and encoded again
//! with the S3 rules (every byte but `A–Z a–z 0–9 - _ . ~ /` as `%XX`), so clients that
//! escape more or fewer characters than botocore still verify.

use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The hash of an empty payload, `hex(sha256(""))`.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Largest clock difference accepted between a signed request's `X-Amz-Date` and now
/// (the limit S3 applies: `RequestTimeTooSkewed`).
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Longest presigned-URL lifetime S3 accepts (`X-Amz-Expires`, 7 days).
pub const MAX_PRESIGN_SECS: i64 = 7 * 24 * 3600;

/// Why a request's authentication was refused; each maps to one S3 error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No Authorization header and no presigned query (`AccessDenied`).
    Missing,
    /// The header or query is not SigV4 or is malformed (`AuthorizationHeaderMalformed`
    /// / `AuthorizationQueryParametersError`).
    Malformed(String),
    /// The request was signed too long ago or in the future (`RequestTimeTooSkewed`).
    Skewed,
    /// A presigned URL past its `X-Amz-Expires` (`AccessDenied`, "Request has expired").
    PresignExpired,
}

/// What a request claims about its signature, parsed before the secret is looked up.
#[derive(Debug, Clone)]
pub struct Claim {
    pub access_key: String,
    /// `yyyymmdd/region/s3/aws4_request`
    pub scope: String,
    pub amz_date: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// The payload hash the signature covers: `x-amz-content-sha256` (header auth) or
    /// `UNSIGNED-PAYLOAD` (presigned).
    pub payload_hash: String,
    /// True when authenticated by query parameters.
    pub presigned: bool,
    /// The session token the request carries (`X-Amz-Security-Token`), if any.
    pub security_token: Option<String>,
}

impl Claim {
    /// Parses the SigV4 material of a request and checks its time window against `now`.
    ///
    /// Errors: [`AuthError::Missing`] without credentials, [`AuthError::Malformed`] when they
    /// are not well-formed SigV4 (SigV2 included), [`AuthError::Skewed`] beyond
    /// [`MAX_SKEW_SECS`], [`AuthError::PresignExpired`] for a presigned URL past its expiry.
    pub fn parse(headers: &HeaderMap, uri: &Uri, now: DateTime<Utc>) -> Result<Claim, AuthError> {
        let query = query_pairs(uri.query().unwrap_or(""));
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let Some(auth) = headers.get("authorization") {
            let auth = auth
                .to_str()
                .map_err(|_| AuthError::Malformed("the Authorization header is not ASCII".into()))?;
            let rest = auth.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
                AuthError::Malformed("only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted".into())
            })?;
            let (mut credential, mut signed, mut signature) = (None, None, None);
            for part in rest.split(',') {
                let part = part.trim();
                if let Some(v) = part.strip_prefix("Credential=") {
                    credential = Some(v.to_string());
                } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                    signed = Some(v.to_string());
                } else if let Some(v) = part.strip_prefix("Signature=") {
                    signature = Some(v.to_string());
                }
            }
            let missing = |what: &str| AuthError::Malformed(format!("the Authorization header has no {what}"));
            let credential = credential.ok_or_else(|| missing("Credential"))?;
            let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
            let signature = signature.ok_or_else(|| missing("Signature"))?;
            let amz_date = header(headers, "x-amz-date")
                .ok_or_else(|| AuthError::Malformed("the request has no X-Amz-Date header".into()))?;
            let payload_hash = header(headers, "x-amz-content-sha256")
                .ok_or_else(|| AuthError::Malformed("the request has no x-amz-content-sha256 header".into()))?;
            let (access_key, scope) = split_credential(&credential, &amz_date)?;
            let signed_headers = split_signed(&signed, true)?;
            let date = parse_amz_date(&amz_date)?;
            if (now - date).num_seconds().abs() > MAX_SKEW_SECS {
                return Err(AuthError::Skewed);
            }
            return Ok(Claim {
                access_key,
                scope,
                amz_date,
                signed_headers,
                signature,
                payload_hash,
                presigned: false,
                security_token: header(headers, "x-amz-security-token"),
            });
        }
        if let Some(alg) = q("X-Amz-Algorithm") {
            if alg != "AWS4-HMAC-SHA256" {
                return Err(AuthError::Malformed(format!("unsupported X-Amz-Algorithm {alg:?}")));
            }
            let need =
                |k: &str| q(k).ok_or_else(|| AuthError::Malformed(format!("the presigned URL has no {k} parameter")));
            let credential = need("X-Amz-Credential")?;
            let amz_date = need("X-Amz-Date")?;
            let expires: i64 = need("X-Amz-Expires")?
                .parse()
                .map_err(|_| AuthError::Malformed("X-Amz-Expires is not a number of seconds".into()))?;
            if !(1..=MAX_PRESIGN_SECS).contains(&expires) {
                return Err(AuthError::Malformed(format!(
                    "X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECS} seconds"
                )));
            }
            let signed = need("X-Amz-SignedHeaders")?;
            let signature = need("X-Amz-Signature")?;
            let (access_key, scope) = split_credential(&credential, &amz_date)?;
            let signed_headers = split_signed(&signed, true)?;
            let date = parse_amz_date(&amz_date)?;
            if date - now > chrono::Duration::seconds(MAX_SKEW_SECS) {
                return Err(AuthError::Skewed);
            }
            if now > date + chrono::Duration::seconds(expires) {
                return Err(AuthError::PresignExpired);
            }
            return Ok(Claim {
                access_key,
                scope,
                amz_date,
                signed_headers,
                signature,
                payload_hash: "UNSIGNED-PAYLOAD".into(),
                presigned: true,
                security_token: q("X-Amz-Security-Token"),
            });
        }
        if headers.contains_key("authorization") || q("Signature").is_some() || q("AWSAccessKeyId").is_some() {
            return Err(AuthError::Malformed(
                "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted".into(),
            ));
        }
        Err(AuthError::Missing)
    }

    /// The signing key derived from the secret for this claim's scope.
    pub fn signing_key(&self, secret: &str) -> [u8; 32] {
        let mut parts = self.scope.split('/');
        let (date, region, service) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        hmac(&k_service, b"aws4_request")
    }

    /// True when the signature matches the request signed with `secret` (constant-time
    /// comparison).
    pub fn verify(&self, method: &Method, uri: &Uri, headers: &HeaderMap, secret: &str) -> bool {
        let canonical = self.canonical_request(method, uri, headers);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = self.signing_key(secret);
        let Ok(given) = hex::decode(&self.signature) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(string_to_sign.as_bytes());
        mac.verify_slice(&given).is_ok()
    }

    /// The canonical request of SigV4: method, canonical URI, canonical query, canonical
    /// headers, signed header list, payload hash.
    pub fn canonical_request(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
        let path = percent_decode(uri.path().as_bytes());
        let canonical_uri = aws_encode(&path, false);
        let mut pairs: Vec<(String, String)> = query_pairs(uri.query().unwrap_or(""))
            .into_iter()
            .filter(|(k, _)| !(self.presigned && k == "X-Amz-Signature"))
            .map(|(k, v)| (aws_encode(k.as_bytes(), true), aws_encode(v.as_bytes(), true)))
            .collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut canonical_headers = String::new();
        for name in &self.signed_headers {
            let values: Vec<String> = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            let value = if values.is_empty() && name == "host" {
                uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default()
            } else {
                values.join(",")
            };
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&value);
            canonical_headers.push('\n');
        }
        format!(
            "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{}",
            self.signed_headers.join(";"),
            self.payload_hash
        )
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// `AKID/yyyymmdd/region/s3/aws4_request` → (AKID, scope). The scope's date must be the
/// date of `X-Amz-Date` and its service `s3`.
fn split_credential(credential: &str, amz_date: &str) -> Result<(String, String), AuthError> {
    let bad = || {
        AuthError::Malformed(format!(
            "the credential {credential:?} is not AKID/date/region/s3/aws4_request"
        ))
    };
    let (akid, scope) = credential.split_once('/').ok_or_else(bad)?;
    let parts: Vec<&str> = scope.split('/').collect();
    if akid.is_empty() || parts.len() != 4 || parts[3] != "aws4_request" {
        return Err(bad());
    }
    if parts[2] != "s3" {
        return Err(AuthError::Malformed(format!(
            "the credential is scoped to service {:?}; this endpoint is s3",
            parts[2]
        )));
    }
    if !amz_date.starts_with(parts[0]) || parts[0].len() != 8 {
        return Err(AuthError::Malformed(format!(
            "the credential date {} is not the date of X-Amz-Date {amz_date}",
            parts[0]
        )));
    }
    Ok((akid.to_string(), scope.to_string()))
}

/// `host;x-amz-date` → sorted lowercase names; `host` must be among them.
fn split_signed(signed: &str, need_host: bool) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = signed.split(';').map(|s| s.trim().to_ascii_lowercase()).collect();
    if names.iter().any(String::is_empty) {
        return Err(AuthError::Malformed("SignedHeaders has an empty name".into()));
    }
    if need_host && !names.iter().any(|n| n == "host") {
        return Err(AuthError::Malformed("SignedHeaders must include host".into()));
    }
    let mut sorted = names.clone();
    sorted.sort();
    Ok(sorted)
}

fn parse_amz_date(s: &str) -> Result<DateTime<Utc>, AuthError> {
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .map(|d| Utc.from_utc_datetime(&d))
        .map_err(|_| AuthError::Malformed(format!("X-Amz-Date {s:?} is not yyyymmddThhmmssZ")))
}

/// The query string's pairs, each percent-decoded once (`+` stays `+`, as S3 reads it).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k.as_bytes())).into_owned(),
                String::from_utf8_lossy(&percent_decode(v.as_bytes())).into_owned(),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; anything else, malformed escapes included, is kept as it is.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            let hexpair = std::str::from_utf8(&input[i + 1..i + 3]).ok();
            if let Some(b) = hexpair.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// SigV4's URI encoding: unreserved bytes as they are, `/` kept unless `slash` is set,
/// everything else `%XX` in upper-case hex.
pub fn aws_encode(input: &[u8], slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the S3 SigV4 documentation ("GET Object" with a range):
    /// the published signature must come out of the verifier.
    #[test]
    fn aws_documentation_get_object_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        headers.insert("range", "bytes=0-9".parse().unwrap());
        headers.insert("x-amz-content-sha256", EMPTY_SHA256.parse().unwrap());
        headers.insert("x-amz-date", "20130524T000000Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                .parse()
                .unwrap(),
        );
        let uri: Uri = "/test.txt".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2013, 5, 24, 0, 5, 0).unwrap();
        let claim = Claim::parse(&headers, &uri, now).unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert!(claim.verify(&Method::GET, &uri, &headers, secret));
        assert!(!claim.verify(&Method::GET, &uri, &headers, "wrong"));
        assert!(!claim.verify(&Method::PUT, &uri, &headers, secret));
        let later = Utc.with_ymd_and_hms(2013, 5, 24, 0, 16, 0).unwrap();
        assert_eq!(Claim::parse(&headers, &uri, later).unwrap_err(), AuthError::Skewed);
    }

    /// The presigned-URL example of the same documentation.
    #[test]
    fn aws_documentation_presigned_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        let uri: Uri = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2013, 5, 24, 12, 0, 0).unwrap();
        let claim = Claim::parse(&headers, &uri, now).unwrap();
        assert!(claim.presigned);
        assert!(claim.verify(&Method::GET, &uri, &headers, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        let after = Utc.with_ymd_and_hms(2013, 5, 25, 0, 0, 1).unwrap();
        assert_eq!(
            Claim::parse(&headers, &uri, after).unwrap_err(),
            AuthError::PresignExpired
        );
    }

    #[test]
    fn encoding_and_decoding() {
        assert_eq!(aws_encode(b"a b/c~d", false), "a%20b/c~d");
        assert_eq!(aws_encode(b"a/b", true), "a%2Fb");
        assert_eq!(percent_decode(b"a%2Fb%zz%4"), b"a/b%zz%4");
    }
}
