//! `GET …/{name}/{version}/croissant`: the version as MLCommons Croissant 1.0 JSON-LD
//! (<https://docs.mlcommons.org/croissant/docs/croissant-spec.html>): the schema.org
//! `Dataset` fields from the version's metadata, one `cr:FileObject` per file (its OCI blob
//! URL, size and sha256), and one `cr:RecordSet` per split (per file where a split has
//! several) whose fields are the published columns with their Croissant data types.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use granary_core::{DataFormat, Version};
use granary_db::VersionRecord;
use serde_json::{json, Map, Value};

use super::datasets::local_name;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::AppState;

/// The Croissant 1.0 JSON-LD context, as the specification publishes it.
fn context() -> Value {
    json!({
        "@language": "en",
        "@vocab": "https://schema.org/",
        "citeAs": "cr:citeAs",
        "column": "cr:column",
        "conformsTo": "dct:conformsTo",
        "cr": "http://mlcommons.org/croissant/",
        "rai": "http://mlcommons.org/croissant/RAI/",
        "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
        "dct": "http://purl.org/dc/terms/",
        "equivalentProperty": "cr:equivalentProperty",
        "examples": {"@id": "cr:examples", "@type": "@json"},
        "extract": "cr:extract",
        "field": "cr:field",
        "fileProperty": "cr:fileProperty",
        "fileObject": "cr:fileObject",
        "fileSet": "cr:fileSet",
        "format": "cr:format",
        "includes": "cr:includes",
        "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath",
        "key": "cr:key",
        "md5": "cr:md5",
        "parentField": "cr:parentField",
        "path": "cr:path",
        "recordSet": "cr:recordSet",
        "references": "cr:references",
        "regex": "cr:regex",
        "repeated": "cr:repeated",
        "replace": "cr:replace",
        "samplingRate": "cr:samplingRate",
        "sc": "https://schema.org/",
        "separator": "cr:separator",
        "source": "cr:source",
        "subField": "cr:subField",
        "transform": "cr:transform"
    })
}

/// The media type Croissant names for a file format.
pub fn encoding_format(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Parquet => "application/x-parquet",
        DataFormat::Csv => "text/csv",
        DataFormat::Json => "application/json",
        DataFormat::Jsonl => "application/jsonlines",
        DataFormat::Arrow | DataFormat::Feather => "application/vnd.apache.arrow.file",
    }
}

/// The Croissant data type of an Arrow type name (as granary writes them): integers
/// `sc:Integer`, floating point and decimals `sc:Float`, `sc:Boolean`, dates `sc:Date`,
/// timestamps `sc:DateTime`, binary `sc:Text`'s byte form `sc:Text`; anything else
/// (lists, structs, maps) `sc:Text`.
pub fn data_type(arrow: &str) -> &'static str {
    let t = arrow.trim();
    if t.starts_with("int") || t.starts_with("uint") {
        "sc:Integer"
    } else if t.starts_with("float")
        || t.starts_with("double")
        || t.starts_with("halffloat")
        || t.starts_with("decimal")
    {
        "sc:Float"
    } else if t == "bool" {
        "sc:Boolean"
    } else if t.starts_with("date") {
        "sc:Date"
    } else if t.starts_with("timestamp") {
        "sc:DateTime"
    } else {
        "sc:Text"
    }
}

/// `@id`s handed out so far: mlcroissant refuses ids with whitespace, so each whitespace
/// character becomes `_`, and an id already taken gets `_2`, `_3`, … appended.
#[derive(Default)]
struct Ids(std::collections::HashSet<String>);

impl Ids {
    fn take(&mut self, want: &str) -> String {
        let base: String = want.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
        let mut id = base.clone();
        let mut n = 1;
        while self.0.contains(&id) {
            n += 1;
            id = format!("{base}_{n}");
        }
        self.0.insert(id.clone());
        id
    }
}

/// The Croissant document of `rec`, with file URLs under `base` (the server's public URL).
pub fn document(rec: &VersionRecord, base: &str) -> Value {
    let m = &rec.meta;
    let (org, name) = rec.full_name.split_once('/').unwrap_or(("", &rec.full_name));
    let version_format: DataFormat = m.format.parse().unwrap_or(DataFormat::Parquet);
    let mut ids = Ids::default();
    let distribution: Vec<Value> = rec
        .files
        .iter()
        .map(|f| {
            let format = DataFormat::from_path(&f.path).unwrap_or(version_format);
            json!({
                "@type": "cr:FileObject",
                "@id": ids.take(&f.path),
                "name": f.path,
                "description": match &f.split {
                    Some(s) => format!("The {s} split"),
                    None => "A data file".to_string(),
                },
                "contentUrl": format!("{base}/v2/{org}/{name}/blobs/{}", f.digest),
                "contentSize": format!("{} B", f.size),
                "encodingFormat": encoding_format(format),
                "sha256": f.digest.hex(),
            })
        })
        .collect();
    let file_ids: std::collections::HashMap<&str, Value> = rec
        .files
        .iter()
        .zip(&distribution)
        .map(|(f, d)| (f.path.as_str(), d["@id"].clone()))
        .collect();
    // A record set per split; a split (or a version without splits) of several files gets one
    // per file, since a record set reads one source.
    let mut groups: Vec<(String, Vec<&granary_db::FileRecord>)> = Vec::new();
    for f in &rec.files {
        let key = f.split.clone().unwrap_or_else(|| "default".to_string());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, fs)) => fs.push(f),
            None => groups.push((key, vec![f])),
        }
    }
    let mut record_sets = Vec::new();
    for (key, files) in &groups {
        for f in files {
            // Record set ids must differ from the file objects' (their paths).
            let id = if files.len() == 1 {
                key.clone()
            } else {
                format!("{}/rows", f.path)
            };
            let id = ids.take(&id);
            let columns = crate::wire::file_facts(rec, f).0.unwrap_or(&m.data_schema);
            let fields: Vec<Value> = columns
                .iter()
                .map(|(col, ty)| {
                    json!({
                        "@type": "cr:Field",
                        "@id": ids.take(&format!("{id}/{col}")),
                        "name": col,
                        "description": format!("Column {col:?}, Arrow type {ty}"),
                        "dataType": data_type(ty),
                        "source": {"fileObject": {"@id": file_ids[f.path.as_str()]}, "extract": {"column": col}},
                    })
                })
                .collect();
            record_sets.push(json!({
                "@type": "cr:RecordSet",
                "@id": id,
                "name": id,
                "description": match (&f.split, files.len()) {
                    (Some(s), 1) => format!("The {s} split of {}", rec.full_name),
                    (Some(s), _) => format!("{} of the {s} split", f.path),
                    (None, _) => format!("The rows of {}", f.path),
                },
                "field": fields,
            }));
        }
    }
    let mut doc = Map::new();
    doc.insert("@context".into(), context());
    doc.insert("@type".into(), json!("sc:Dataset"));
    doc.insert("conformsTo".into(), json!("http://mlcommons.org/croissant/1.0"));
    doc.insert("name".into(), json!(rec.full_name));
    if let Some(p) = &m.pretty_name {
        doc.insert("alternateName".into(), json!(p));
    }
    let description = m
        .description
        .clone()
        .or(m.summary.clone())
        .unwrap_or_else(|| format!("{}@{}", rec.full_name, rec.version));
    doc.insert("description".into(), json!(description));
    if let Some(l) = &m.license {
        doc.insert("license".into(), json!(l));
    }
    doc.insert(
        "url".into(),
        json!(format!("{base}/orgs/{org}/datasets/{name}?version={}", rec.version)),
    );
    doc.insert("version".into(), json!(rec.version.to_string()));
    doc.insert("datePublished".into(), json!(crate::wire::iso(rec.created_at)));
    if !m.tags.is_empty() || !m.task_categories.is_empty() {
        let kw: Vec<&String> = m.tags.iter().chain(&m.task_categories).collect();
        doc.insert("keywords".into(), json!(kw));
    }
    if let Some(langs) = &m.language {
        doc.insert("inLanguage".into(), json!(langs));
    }
    doc.insert("distribution".into(), json!(distribution));
    doc.insert("recordSet".into(), json!(record_sets));
    Value::Object(doc)
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}/croissant", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH")), responses((status = 200, description = "MLCommons Croissant 1.0 JSON-LD", body = Object, content_type = "application/ld+json"), (status = 401, description = "No or invalid API key", body = crate::openapi::ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = crate::openapi::ErrorEnvelope), (status = 422, description = "A malformed version", body = crate::openapi::ErrorEnvelope)))]
/// `GET …/{name}/{version}/croissant`: the version's Croissant JSON-LD.
pub async fn croissant(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((org, name, version)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let version: Version = version.parse().map_err(|e: granary_core::VersionError| {
        ApiError::validation(vec![FieldError::new(
            &["path", "version"],
            e.to_string(),
            "invalid_version",
        )])
    })?;
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = state.visible_version(&access, name, Some(version)).await?;
    let doc = document(&rec, &super::base_url(&state, &headers));
    let mut resp = axum::Json(doc).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/ld+json"));
    Ok(resp)
}
