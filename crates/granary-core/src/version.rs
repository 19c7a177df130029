//! Strict `MAJOR.MINOR.PATCH` versions: no pre-release or build suffix, no leading zeros,
//! each component at most [`Version::MAX_COMPONENT`].

use std::fmt;
use std::str::FromStr;

/// A dataset version. Ordered by major, then minor, then patch, numerically; both metadata
/// stores order by the same three integers, so every component fits a signed 64-bit column.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// The largest value of each component: 2^63 − 1, the largest integer SQLite and
    /// PostgreSQL (`BIGINT`) columns hold, so versions order the same in memory and in SQL.
    pub const MAX_COMPONENT: u64 = i64::MAX as u64;
}

/// Why a version string was refused; the message quotes it and says what is expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error(
        "invalid version {0:?}: expected MAJOR.MINOR.PATCH such as 1.0.0 (digits only, no leading zeros, no suffix)"
    )]
    Syntax(String),
    #[error("invalid version {0:?}: each of MAJOR, MINOR and PATCH is at most 9223372036854775807 (2^63 - 1)")]
    TooLarge(String),
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError::Syntax(s.to_string());
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, VersionError> {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return Err(err());
            }
            match p.parse::<u64>() {
                Ok(n) if n <= Version::MAX_COMPONENT => Ok(n),
                _ => Err(VersionError::TooLarge(s.to_string())),
            }
        };
        let v = Version {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_semver() {
        assert_eq!(
            "1.20.3".parse::<Version>().unwrap(),
            Version {
                major: 1,
                minor: 20,
                patch: 3
            }
        );
        assert_eq!("0.0.0".parse::<Version>().unwrap().to_string(), "0.0.0");
        for bad in [
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-rc1",
            "1.0.0+b",
            "v1.0.0",
            "1..0",
            "",
            "1.0.x",
            "1.0.-1",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
        let max = "9223372036854775807.9223372036854775807.9223372036854775807";
        assert_eq!(max.parse::<Version>().unwrap().to_string(), max);
        for big in [
            "9223372036854775808.0.0",
            "0.9223372036854775808.0",
            "1.0.99999999999999999999",
        ] {
            assert_eq!(big.parse::<Version>(), Err(VersionError::TooLarge(big.into())));
            assert!(VersionError::TooLarge(big.into())
                .to_string()
                .contains("at most 9223372036854775807"));
        }
        let mut v: Vec<Version> = ["1.10.0", "1.2.0", "2.0.0", "1.2.10", "9223372036854775807.0.0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(s, ["1.2.0", "1.2.10", "1.10.0", "2.0.0", "9223372036854775807.0.0"]);
    }
}
