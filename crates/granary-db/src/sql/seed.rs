//! Bulk demo data for benchmarks: orgs, users, datasets with many versions, download events.
//! Writes rows directly in large transactions (the trait's one-at-a-time publish is far too
//! slow for 100,000 versions and 10 million events), then folds the counters.

use super::builder::SqlBuilder;
use chrono::{Duration, Utc};
use granary_core::{size_category, Role};
use uuid::Uuid;

use super::{map_err, ts, SqlStore};
use crate::{DbResult, MetadataStore};

#[derive(Clone, Debug)]
pub struct SeedSpec {
    pub orgs: usize,
    pub names: usize,
    pub versions: usize,
    pub events: usize,
    /// Share of dataset names that are public, in percent.
    pub public_percent: u64,
}

/// A tiny deterministic generator (xorshift64*), so seeded data is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const TAGS: [&str; 20] = [
    "nlp",
    "vision",
    "audio",
    "qa",
    "code",
    "math",
    "chat",
    "safety",
    "medical",
    "legal",
    "finance",
    "multilingual",
    "summarization",
    "retrieval",
    "reasoning",
    "synthetic",
    "web",
    "books",
    "science",
    "speech",
];
const TASKS: [&str; 8] = [
    "text-classification",
    "question-answering",
    "translation",
    "summarization",
    "image-classification",
    "object-detection",
    "text-generation",
    "automatic-speech-recognition",
];
const LICENSES: [&str; 5] = ["mit", "apache-2.0", "cc-by-4.0", "cc-by-sa-4.0", "other"];
const FORMATS: [&str; 3] = ["parquet", "csv", "jsonl"];
const WORDS: [&str; 12] = [
    "questions",
    "images",
    "dialogues",
    "reviews",
    "papers",
    "recipes",
    "contracts",
    "tweets",
    "proofs",
    "programs",
    "transcripts",
    "captions",
];

/// Seeds the store; returns (orgs, versions, events) written. Org keys are `org-NN`.
pub async fn seed(
    store: &SqlStore,
    spec: &SeedSpec,
    mut progress: impl FnMut(&str),
) -> DbResult<(usize, usize, usize)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = Utc::now();
    // identity: orgs with four users each
    let mut orgs = Vec::new();
    let mut users = Vec::new();
    for o in 0..spec.orgs {
        let key = format!("org-{o:02}");
        let org = match store.org_by_key(&key).await? {
            Some(org) => org,
            None => store.create_org(&key, &format!("Org {o}")).await?,
        };
        for u in 0..4 {
            let name = format!("user-{o:02}-{u}");
            let user = match store.user_by_name(&name).await? {
                Some(u) => u,
                None => store.create_user(&name, &format!("{name}@example.com")).await?,
            };
            store
                .set_membership(org.id, user.id, if u == 0 { Role::Owner } else { Role::Contributor })
                .await?;
            users.push((user, key.clone()));
        }
        orgs.push(org);
    }
    progress("orgs and users");

    // datasets and versions
    let per_name = spec.versions.div_ceil(spec.names.max(1));
    let mut versions: Vec<(String, String, String, String)> = Vec::with_capacity(spec.versions); // (id, org_id, full_name, version)
    let mut tx = store.begin_write().await?;
    let mut made = 0usize;
    for n in 0..spec.names {
        let org = &orgs[n % orgs.len()];
        let name = format!("{}-{n:04}", WORDS[n % WORDS.len()]);
        let full = format!("{}/{name}", org.key);
        let public = rng.below(100) < spec.public_percent;
        let dataset_id = Uuid::new_v4().to_string();
        let born = now - Duration::minutes(rng.below(2 * 365 * 24 * 60) as i64);
        sqlx::query("INSERT INTO datasets (id, org_id, name, is_public, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(&dataset_id)
            .bind(org.id.to_string())
            .bind(&name)
            .bind(public as i64)
            .bind(ts(born))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("INSERT INTO catalog_changes (dataset_id) VALUES ($1)")
            .bind(&dataset_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let count = per_name.min(spec.versions - made);
        let mut rows = Vec::with_capacity(count);
        for v in 0..count {
            let rows_n = 10u64.pow(rng.below(9) as u32) * (1 + rng.below(9));
            let tags: Vec<&str> = (0..rng.below(4))
                .map(|_| TAGS[rng.below(TAGS.len() as u64) as usize])
                .collect();
            let mut tags: Vec<String> = tags.into_iter().map(str::to_string).collect();
            tags.sort();
            tags.dedup();
            let task = TASKS[rng.below(TASKS.len() as u64) as usize].to_string();
            let license = (rng.below(6) < 5).then(|| LICENSES[rng.below(LICENSES.len() as u64) as usize].to_string());
            let created = born + Duration::minutes(v as i64 * 37);
            let summary = format!(
                "{} {} for {}",
                WORDS[rng.below(12) as usize],
                WORDS[rng.below(12) as usize],
                name
            );
            rows.push((
                Uuid::new_v4().to_string(),
                v,
                rows_n,
                tags,
                task,
                license,
                created,
                summary,
            ));
        }
        for chunk in rows.chunks(100) {
            let mut qb: SqlBuilder = SqlBuilder::new(
                "INSERT INTO dataset_versions (id, dataset_id, version, major, minor, patch, manifest_digest, manifest,
                 config_digest, format, data_schema, row_count, file_size_bytes, size_category, summary, license, tags,
                 task_categories, artifacts_hash, created_at, updated_at, org_id, name, full_name, is_public) ",
            );
            qb.push_values(chunk, |b, (id, v, rows_n, tags, task, license, created, summary)| {
                let digest = format!("sha256:{:064x}", rng.next());
                b.push_bind(id.clone())
                    .push_bind(dataset_id.clone())
                    .push_bind(format!("1.{v}.0"))
                    .push_bind(1i64)
                    .push_bind(*v as i64)
                    .push_bind(0i64)
                    .push_bind(digest.clone())
                    .push_bind("{}")
                    .push_bind(digest)
                    .push_bind(FORMATS[*v % 3])
                    .push_bind(r#"[["text","string"],["label","int64"]]"#)
                    .push_bind(*rows_n as i64)
                    .push_bind((*rows_n * 120) as i64)
                    .push_bind(size_category(*rows_n))
                    .push_bind(summary.clone())
                    .push_bind(license.clone())
                    .push_bind(serde_json::to_string(tags).expect("json"))
                    .push_bind(serde_json::to_string(&[task]).expect("json"))
                    .push_bind(format!("sha256:{:064x}", 0))
                    .push_bind(ts(*created))
                    .push_bind(ts(*created))
                    .push_bind(org.id.to_string())
                    .push_bind(name.clone())
                    .push_bind(full.clone())
                    .push_bind(public as i64);
            });
            qb.build().execute(&mut *tx).await.map_err(map_err)?;
            let mut qb: SqlBuilder =
                SqlBuilder::new("INSERT INTO version_task_categories (version_id, task_category) ");
            qb.push_values(chunk, |b, r| {
                b.push_bind(r.0.clone()).push_bind(r.4.clone());
            });
            qb.build().execute(&mut *tx).await.map_err(map_err)?;
            let tag_rows: Vec<(String, String)> = chunk
                .iter()
                .flat_map(|r| r.3.iter().map(move |t| (r.0.clone(), t.clone())))
                .collect();
            if !tag_rows.is_empty() {
                let mut qb: SqlBuilder = SqlBuilder::new("INSERT INTO version_tags (version_id, tag) ");
                qb.push_values(&tag_rows, |b, (v, t)| {
                    b.push_bind(v.clone()).push_bind(t.clone());
                });
                qb.build().execute(&mut *tx).await.map_err(map_err)?;
            }
        }
        for r in &rows {
            versions.push((r.0.clone(), org.id.to_string(), full.clone(), format!("1.{}.0", r.1)));
        }
        made += count;
        if made >= spec.versions {
            break;
        }
    }
    tx.commit().await.map_err(map_err)?;
    progress("versions");

    // download events: most land in the first org, so one org's feed is the deep one
    let batch = 200;
    let mut written = 0usize;
    let start = now - Duration::days(365);
    while written < spec.events && !versions.is_empty() {
        let mut tx = store.begin_write().await?;
        for _ in 0..500 {
            let n = batch.min(spec.events - written);
            if n == 0 {
                break;
            }
            let mut qb: SqlBuilder = SqlBuilder::new(
                "INSERT INTO download_events (id, org_id, version_id, dataset_name, version, split, user_id, username, user_org, created_at) ",
            );
            let rows: Vec<usize> = (0..n).map(|i| written + i).collect();
            qb.push_values(rows, |b, i| {
                let v = if rng.below(10) < 8 {
                    // versions of org-00 sit at indexes ≡ 0 (mod orgs) per name block; pick any of them
                    let names_of_first = spec.names.div_ceil(orgs.len()).max(1) as u64;
                    let name = rng.below(names_of_first) as usize * orgs.len();
                    let idx = (name * per_name + rng.below(per_name as u64) as usize).min(versions.len() - 1);
                    &versions[idx]
                } else {
                    &versions[rng.below(versions.len() as u64) as usize]
                };
                let (user, user_org) = &users[rng.below(users.len() as u64) as usize];
                let at =
                    start + Duration::milliseconds((i as i64) * (365 * 24 * 3600 * 1000 / spec.events.max(1) as i64));
                b.push_bind(Uuid::now_v7().to_string())
                    .push_bind(v.1.clone())
                    .push_bind(v.0.clone())
                    .push_bind(v.2.clone())
                    .push_bind(v.3.clone())
                    .push_bind(None::<String>)
                    .push_bind(user.id.to_string())
                    .push_bind(user.username.clone())
                    .push_bind(user_org.clone())
                    .push_bind(ts(at));
            });
            qb.build().execute(&mut *tx).await.map_err(map_err)?;
            written += n;
        }
        tx.commit().await.map_err(map_err)?;
        if written % 1_000_000 < batch * 50 {
            progress(&format!("{written} events"));
        }
    }
    // Nothing is pending: the counters are computed from the events in one pass each.
    sqlx::query(
        "UPDATE dataset_versions SET download_count = c.n
         FROM (SELECT version_id, COUNT(*) AS n FROM download_events GROUP BY version_id) AS c
         WHERE dataset_versions.id = c.version_id",
    )
    .execute(&store.pool)
    .await
    .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO download_totals (org_id, dataset_name, user_id, n)
         SELECT org_id, dataset_name, user_id, COUNT(*) FROM download_events WHERE true GROUP BY org_id, dataset_name, user_id
         ON CONFLICT (org_id, dataset_name, user_id) DO UPDATE SET n = excluded.n",
    )
    .execute(&store.pool)
    .await
    .map_err(map_err)?;
    for sql in [
        "INSERT INTO download_org_totals (org_id, n)
         SELECT org_id, SUM(n) FROM download_totals WHERE true GROUP BY org_id
         ON CONFLICT (org_id) DO UPDATE SET n = excluded.n",
        "INSERT INTO download_dataset_totals (org_id, dataset_name, n)
         SELECT org_id, dataset_name, SUM(n) FROM download_totals WHERE true GROUP BY org_id, dataset_name
         ON CONFLICT (org_id, dataset_name) DO UPDATE SET n = excluded.n",
    ] {
        sqlx::query(sql).execute(&store.pool).await.map_err(map_err)?;
    }
    // Servers that cached counts or activity see them move.
    sqlx::query("UPDATE download_marks SET n = n + $1 WHERE shard = 0")
        .bind(written as i64)
        .execute(&store.pool)
        .await
        .map_err(map_err)?;
    progress("counted downloads");
    sqlx::query("ANALYZE").execute(&store.pool).await.map_err(map_err)?;
    Ok((orgs.len(), versions.len(), written))
}
