//! Strict `MAJOR.MINOR.PATCH` versions: no pre-release or build suffix, no leading zeros.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid version {0:?}: expected MAJOR.MINOR.PATCH such as 1.0.0 (digits only, no leading zeros, no suffix)")]
pub struct VersionError(pub String);

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_string());
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, VersionError> {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
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
        let mut v: Vec<Version> = ["1.10.0", "1.2.0", "2.0.0", "1.2.10"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(s, ["1.2.0", "1.2.10", "1.10.0", "2.0.0"]);
    }
}
