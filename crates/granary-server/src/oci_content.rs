//! Generic OCI content under `/v2/`: what a manifest PUT is checked against, what is stored
//! of it, and the two renderings that tie OCI content to datasets (an ORAS-style push read
//! as a dataset, and a dataset version rendered with its files as layers).
//!
//! Rules (OCI distribution-spec 1.1, "Pushing manifests"; image-spec `manifest.md`,
//! `image-index.md`, `descriptor.md`): a manifest is a JSON image manifest or image index
//! (OCI or Docker schema 2); its `mediaType`, when present, must equal the request's
//! `Content-Type`; every descriptor's digest must parse; an image manifest's config and
//! layers must be blobs of the org, except layers that are not distributable (their media
//! type says so, or they carry `urls`) and the empty descriptor; an index's manifests need
//! not be stored (sparse indexes are allowed).

use std::collections::BTreeMap;

use granary_core::manifest::{ANN_NAME, ANN_TYPE, ANN_VERSION, MEDIA_OCI_MANIFEST};
use granary_core::{validate_artifact_path, DataFormat, Digest, OciManifest, Version};
use granary_db::{FileRecord, OciContent};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The empty descriptor's media type and digest (image-spec `manifest.md`, "Guidance for an
/// empty descriptor"): `{}`, two bytes.
pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The artifact type of a dataset version's `/v2/` view.
pub const ARTIFACT_DATASET: &str = "application/vnd.granary.dataset.v1";
pub const ANN_TITLE: &str = "org.opencontainers.image.title";
pub const ANN_DESCRIPTION: &str = "org.opencontainers.image.description";
pub const ANN_LICENSES: &str = "org.opencontainers.image.licenses";
pub const ANN_SOURCE: &str = "org.opencontainers.image.source";

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(detail).oci("MANIFEST_INVALID")
}

/// Whether `tag` is a valid OCI tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
/// (distribution-spec, "Pulling manifests").
pub fn is_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A parsed manifest PUT.
pub struct Parsed {
    pub content: OciContent,
    /// Blobs the org must hold for the manifest to be accepted, with the size each
    /// descriptor declares.
    pub required_blobs: Vec<(Digest, u64)>,
    /// The image manifest, for the dataset readings (None for indexes).
    pub image: Option<ImageManifest>,
}

fn digest_of(d: &Descriptor) -> ApiResult<Digest> {
    d.digest().to_string().parse().map_err(|e: granary_core::DigestError| {
        ApiError::bad_request(format!("descriptor digest: {e}")).oci("DIGEST_INVALID")
    })
}

fn non_distributable(d: &Descriptor) -> bool {
    let mt = d.media_type().to_string();
    mt.contains(".nondistributable.")
        || mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        || d.urls().as_ref().is_some_and(|u| !u.is_empty())
}

/// Parses and checks a manifest body. `content_type` is the request's `Content-Type`;
/// `digest` the body's digest (in the algorithm the client named, when it pushed by digest).
/// Errors: `MANIFEST_INVALID` (400) for JSON that is not an image manifest or index, a
/// `mediaType` that disagrees with `Content-Type`, or an unsupported type; `DIGEST_INVALID`
/// (400) for a descriptor digest of an unknown algorithm.
pub fn parse(body: &[u8], content_type: Option<&str>, digest: Digest) -> ApiResult<Parsed> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("a manifest is UTF-8 JSON"))?;
    let raw: Value = serde_json::from_str(text).map_err(|e| invalid(format!("manifest is not JSON: {e}")))?;
    let declared = raw.get("mediaType").and_then(Value::as_str);
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty());
    if let (Some(d), Some(c)) = (declared, ct) {
        if d != c {
            return Err(invalid(format!(
                "manifest mediaType {d:?} does not match Content-Type {c:?}"
            )));
        }
    }
    let media_type = declared
        .or(ct)
        .or_else(|| raw.get("manifests").map(|_| MEDIA_OCI_INDEX))
        .unwrap_or(MEDIA_OCI_MANIFEST)
        .to_string();
    if raw.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("manifest schemaVersion must be 2"));
    }
    let annotations = raw
        .get("annotations")
        .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
        .map(Value::to_string);
    match media_type.as_str() {
        MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => {
            let m: ImageManifest = serde_json::from_str(text)
                .map_err(|e| invalid(format!("not a valid image manifest: {e}")))?;
            let mut refs = vec![digest_of(m.config())?];
            let mut required = Vec::new();
            let config = digest_of(m.config())?;
            for d in std::iter::once(m.config()).chain(m.layers()) {
                if d.digest().to_string() == EMPTY_DIGEST && d.size() != 2 {
                    return Err(invalid(format!("the empty descriptor {EMPTY_DIGEST} is 2 bytes, not {}", d.size())));
                }
            }
            if config.to_string() != EMPTY_DIGEST {
                required.push((config, m.config().size()));
            }
            for l in m.layers() {
                let d = digest_of(l)?;
                if !non_distributable(l) && d.to_string() != EMPTY_DIGEST {
                    required.push((d.clone(), l.size()));
                }
                refs.push(d);
            }
            let subject = m.subject().as_ref().map(digest_of).transpose()?;
            refs.extend(subject.clone());
            let artifact_type = m
                .artifact_type()
                .as_ref()
                .map(|t| t.to_string())
                .or_else(|| Some(m.config().media_type().to_string()));
            Ok(Parsed {
                content: OciContent {
                    digest,
                    media_type,
                    artifact_type,
                    subject,
                    annotations,
                    body: text.to_string(),
                    refs,
                },
                required_blobs: required,
                image: Some(m),
            })
        }
        MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => {
            let ix: ImageIndex = serde_json::from_str(text)
                .map_err(|e| invalid(format!("not a valid image index: {e}")))?;
            let mut refs = Vec::new();
            for m in ix.manifests() {
                refs.push(digest_of(m)?);
            }
            let subject = ix.subject().as_ref().map(digest_of).transpose()?;
            refs.extend(subject.clone());
            Ok(Parsed {
                content: OciContent {
                    digest,
                    media_type,
                    artifact_type: ix.artifact_type().as_ref().map(|t| t.to_string()),
                    subject,
                    annotations,
                    body: text.to_string(),
                    refs,
                },
                required_blobs: Vec::new(),
                image: None,
            })
        }
        other => Err(invalid(format!(
            "unsupported manifest media type {other:?}: push an OCI image manifest or index ({MEDIA_OCI_MANIFEST}, {MEDIA_OCI_INDEX}) or a Docker schema 2 manifest or list"
        ))),
    }
}

/// The data files of an ORAS-style push: when every layer is a data file named by
/// `org.opencontainers.image.title` with a granary format's extension (and there is at
/// least one), `Some(path → digest)`; otherwise `None` and the push is generic content.
/// Errors: a title that is a data file name but not a safe relative path.
pub fn oras_files(m: &ImageManifest) -> ApiResult<Option<BTreeMap<String, Digest>>> {
    if m.layers().is_empty() {
        return Ok(None);
    }
    let mut files = BTreeMap::new();
    for l in m.layers() {
        // A layer served from elsewhere is no file of the dataset.
        if non_distributable(l) {
            return Ok(None);
        }
        let Some(title) = l.annotations().as_ref().and_then(|a| a.get(ANN_TITLE)) else {
            return Ok(None);
        };
        if DataFormat::from_path(title).is_none() {
            return Ok(None);
        }
        validate_artifact_path(title).map_err(|e| invalid(format!("layer title: {e}")))?;
        if files.insert(title.clone(), digest_of(l)?).is_some() {
            return Err(invalid(format!(
                "two layers are titled {title:?}: a file name appears once"
            )));
        }
    }
    Ok(Some(files))
}

/// The dataset fields an ORAS push's manifest annotations set: description → summary,
/// licenses → license, source → origin `{"url": …}`, title → pretty name.
pub struct OrasMeta {
    pub summary: Option<String>,
    pub license: Option<String>,
    pub origin: Option<serde_json::Map<String, Value>>,
    pub pretty_name: Option<String>,
}

pub fn oras_meta(m: &ImageManifest) -> OrasMeta {
    let ann = |k: &str| m.annotations().as_ref().and_then(|a| a.get(k)).cloned();
    OrasMeta {
        summary: ann(ANN_DESCRIPTION),
        license: ann(ANN_LICENSES),
        origin: ann(ANN_SOURCE).map(|s| {
            let mut o = serde_json::Map::new();
            o.insert("url".into(), Value::String(s));
            o
        }),
        pretty_name: ann(ANN_TITLE),
    }
}

/// The media type a data file's layer carries in a dataset's `/v2/` view.
pub fn layer_media_type(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Parquet => "application/vnd.apache.parquet",
        DataFormat::Csv => "text/csv",
        DataFormat::Json => "application/json",
        DataFormat::Jsonl => "application/jsonl",
        DataFormat::Arrow | DataFormat::Feather => "application/vnd.apache.arrow.file",
    }
}

/// The `/v2/` view of a version published with a dataset manifest: the same config and
/// annotations, `artifactType` [`ARTIFACT_DATASET`], and each file as a layer titled with
/// its path, so `oras pull` writes the dataset's files. Deterministic: the same version
/// always renders the same bytes.
///
/// `manifest` is the pushed dataset manifest, `full_name` `org/name`, `format` the version's
/// default format, `files` its files in path order.
pub fn dataset_view(
    manifest: &str,
    full_name: &str,
    version: Version,
    format: &str,
    files: &[FileRecord],
) -> ApiResult<OciContent> {
    let pushed: OciManifest = serde_json::from_str(manifest).map_err(ApiError::internal)?;
    let default_format: DataFormat = format.parse().unwrap_or(DataFormat::Parquet);
    let layers: Vec<Value> = files
        .iter()
        .map(|f| {
            let format = DataFormat::from_path(&f.path).unwrap_or(default_format);
            json!({
                "mediaType": layer_media_type(format),
                "digest": f.digest.to_string(),
                "size": f.size,
                "annotations": {ANN_TITLE: f.path},
            })
        })
        .collect();
    let mut annotations: BTreeMap<String, String> = pushed.annotations.clone();
    annotations.entry(ANN_TYPE.into()).or_insert_with(|| "dataset".into());
    annotations
        .entry(ANN_NAME.into())
        .or_insert_with(|| full_name.to_string());
    annotations
        .entry(ANN_VERSION.into())
        .or_insert_with(|| version.to_string());
    let body = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "artifactType": ARTIFACT_DATASET,
        "config": {
            "mediaType": pushed.config.media_type,
            "digest": pushed.config.digest.to_string(),
            "size": pushed.config.size,
        },
        "layers": layers,
        "annotations": annotations,
    })
    .to_string();
    let mut refs = vec![pushed.config.digest.clone()];
    refs.extend(files.iter().map(|f| f.digest.clone()));
    Ok(OciContent {
        digest: Digest::of(body.as_bytes()),
        media_type: MEDIA_OCI_MANIFEST.into(),
        artifact_type: Some(ARTIFACT_DATASET.into()),
        subject: None,
        annotations: Some(serde_json::to_string(&annotations).map_err(ApiError::internal)?),
        body,
        refs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> Digest {
        Digest::of(b)
    }

    #[test]
    fn tags_follow_the_grammar() {
        for ok in ["latest", "1.0.0", "_x", "A-b.c_d", &"a".repeat(128)] {
            assert!(is_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "ü", &"a".repeat(129)] {
            assert!(!is_tag(bad), "{bad}");
        }
    }

    #[test]
    fn each_media_type_is_read_by_its_rules() {
        let cfg = d(b"cfg");
        let layer = d(b"layer");
        let image = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.example+json", "digest": cfg.to_string(), "size": 3},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer.to_string(), "size": 5}]})
        .to_string();
        let p = parse(image.as_bytes(), Some(MEDIA_OCI_MANIFEST), d(image.as_bytes())).unwrap();
        assert_eq!(p.required_blobs, vec![(cfg.clone(), 3), (layer.clone(), 5)]);
        assert_eq!(p.content.artifact_type.as_deref(), Some("application/vnd.example+json"));
        assert_eq!(p.content.body, image);

        // Docker schema 2 reads as an image manifest too.
        let docker = image.replace(MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST);
        assert!(parse(docker.as_bytes(), Some(MEDIA_DOCKER_MANIFEST), d(b"x"))
            .unwrap()
            .image
            .is_some());

        // The body's mediaType and the header must agree.
        let e = parse(image.as_bytes(), Some(MEDIA_OCI_INDEX), d(b"x")).err().unwrap();
        assert_eq!(e.oci_code, Some("MANIFEST_INVALID"));

        // An index: children are references, not required blobs; subject and artifactType kept.
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "artifactType": "application/x.t",
            "manifests": [{"mediaType": MEDIA_OCI_MANIFEST, "digest": layer.to_string(), "size": 5}],
            "subject": {"mediaType": MEDIA_OCI_MANIFEST, "digest": cfg.to_string(), "size": 3}})
        .to_string();
        let p = parse(index.as_bytes(), None, d(index.as_bytes())).unwrap();
        assert!(p.required_blobs.is_empty());
        assert_eq!(p.content.refs, vec![layer.clone(), cfg.clone()]);
        assert_eq!(p.content.subject, Some(cfg.clone()));
        assert_eq!(p.content.artifact_type.as_deref(), Some("application/x.t"));

        // Nondistributable layers and the empty config are not required.
        let artifact = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST, "artifactType": "application/x.a",
            "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                        "digest": layer.to_string(), "size": 5}]})
        .to_string();
        let p = parse(artifact.as_bytes(), None, d(b"x")).unwrap();
        assert!(p.required_blobs.is_empty());
        assert_eq!(p.content.artifact_type.as_deref(), Some("application/x.a"));

        // Not JSON, wrong schema version, unknown type, bad descriptor digest.
        for (body, ct) in [
            ("nope".to_string(), None),
            (image.replace("\"schemaVersion\":2", "\"schemaVersion\":1"), None),
            (image.replace(MEDIA_OCI_MANIFEST, "application/x.unknown"), None),
        ] {
            let e = parse(body.as_bytes(), ct, d(b"x")).err().unwrap();
            assert_eq!(e.oci_code, Some("MANIFEST_INVALID"), "{body}");
        }
    }

    #[test]
    fn oras_pushes_of_data_files_are_datasets() {
        let layer = |title: &str| {
            json!({"mediaType": "application/vnd.apache.parquet", "digest": d(title.as_bytes()).to_string(),
                   "size": 1, "annotations": {ANN_TITLE: title}})
        };
        let manifest = |layers: Vec<Value>| -> ImageManifest {
            serde_json::from_value(json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
                "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2}, "layers": layers,
                "annotations": {ANN_DESCRIPTION: "About", ANN_LICENSES: "mit", ANN_SOURCE: "https://x"}}))
            .unwrap()
        };
        let m = manifest(vec![layer("train.parquet"), layer("test.csv")]);
        let files = oras_files(&m).unwrap().unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["test.csv", "train.parquet"]);
        let meta = oras_meta(&m);
        assert_eq!(meta.summary.as_deref(), Some("About"));
        assert_eq!(meta.license.as_deref(), Some("mit"));
        assert_eq!(meta.origin.unwrap()["url"], "https://x");
        // A file that is not data, or no layers: generic content.
        assert!(oras_files(&manifest(vec![layer("train.parquet"), layer("README.md")]))
            .unwrap()
            .is_none());
        assert!(oras_files(&manifest(vec![])).unwrap().is_none());
        // A data file name that leaves the dataset is refused.
        assert!(oras_files(&manifest(vec![layer("../x.parquet")])).is_err());
    }
}
