//! The catalog: an in-memory index of every version's listable fields, so list and facet
//! queries with any filter and sort answer in milliseconds on any metadata backend.
//!
//! The metadata store stays the source of truth. The index is loaded once, then before each
//! query it asks the store which datasets changed since the change sequence it reflects and
//! reloads just those (`catalog_changes`: one indexed read when nothing changed). Every
//! mutation appends its dataset to that change log in its own transaction, so a server sees
//! its own and other servers' writes on the next query. Download counts are not indexed:
//! pages are read back from the store by id, with exact counts.

use granary_db::{CatalogRow, ChangeMarks, MetadataStore};
use roaring::RoaringBitmap;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::{RwLock, RwLockReadGuard};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::wire::{iso, DatasetSummary};

/// Which versions a listing may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything of one org (a member's view).
    Org(Uuid),
    /// The public datasets of one org (an outsider's view).
    OrgPublic(Uuid),
    /// A member's view of their org plus every public dataset.
    OrgAndPublic(Uuid),
    /// Every public dataset.
    Public,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    CreatedAt,
    UpdatedAt,
    RowCount,
    FileSizeBytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

/// Filters of the list and facets endpoints. Empty lists mean "no filter".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListFilter {
    /// Exact dataset name, optionally with its org key.
    pub name: Option<(Option<String>, String)>,
    /// Case-insensitive substring of name or summary.
    pub search: Option<String>,
    pub tags: Vec<String>,
    pub licenses: Vec<String>,
    pub task_categories: Vec<String>,
    pub formats: Vec<String>,
    pub size_categories: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub scope: Scope,
    pub filter: ListFilter,
    pub sort: SortKey,
    pub dir: SortDir,
    pub offset: u64,
    pub limit: u64,
    /// One hit per dataset: its highest version among those that match (the web catalog's
    /// cards). Totals and paging then count datasets, not versions.
    pub group: bool,
}

/// Facet values with their counts, most frequent first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facets {
    pub tags: Vec<(String, u64)>,
    pub licenses: Vec<(String, u64)>,
    pub task_categories: Vec<(String, u64)>,
    pub formats: Vec<(String, u64)>,
    pub size_categories: Vec<(String, u64)>,
    pub filtered_total: u64,
    pub total: u64,
}

/// The interned ids of `values` in lower case, each once.
fn folded_ids(s: &mut Interner, values: &[String]) -> Box<[u32]> {
    let mut ids: Vec<u32> = values.iter().map(|v| s.intern(&v.to_lowercase())).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into()
}

/// Interned strings (tags, licenses, formats, …) as small integers.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// A filter with its values resolved to interned ids (unknown values match nothing).
    fn compile(&self, f: &ListFilter) -> Compiled {
        let ids = |values: &[String]| -> Option<Vec<u32>> {
            (!values.is_empty()).then(|| values.iter().filter_map(|v| self.get(v)).collect())
        };
        let folded = |values: &[String]| -> Option<Vec<u32>> {
            (!values.is_empty()).then(|| values.iter().filter_map(|v| self.get(&v.to_lowercase())).collect())
        };
        let (full_name, name) = match &f.name {
            Some((Some(org), name)) => (Some(format!("{org}/{name}")), None),
            Some((None, name)) => (None, Some(name.clone())),
            None => (None, None),
        };
        Compiled {
            full_name,
            name,
            search: f.search.as_ref().map(|s| s.to_lowercase()),
            tags: folded(&f.tags),
            tasks: folded(&f.task_categories),
            licenses: folded(&f.licenses),
            formats: folded(&f.formats),
            sizes: ids(&f.size_categories),
        }
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// One version's listable fields. `slot` numbers are positions in [`Index::slots`], reused
/// after a version leaves; every bitmap and ordering below holds slots.
struct Entry {
    id: Uuid,
    dataset: Uuid,
    version: granary_core::Version,
    full_name: Arc<str>,
    name_lc: Arc<str>,
    summary_lc: Box<str>,
    tags: Box<[u32]>,
    tasks: Box<[u32]>,
    license: Option<u32>,
    format: u32,
    size_category: u32,
    rows: u64,
    size: u64,
    created: i64,
    updated: i64,
    /// The version as listings show it, but for its download count (read per page).
    listing: DatasetSummary,
}

struct DatasetEntry {
    org: Uuid,
    name: Arc<str>,
    full_name: Arc<str>,
    public: bool,
    slots: Vec<u32>,
}

/// Slots per value of one field.
type Postings<K> = HashMap<K, RoaringBitmap>;

/// Three consecutive characters of a lowercased name or summary.
type Gram = [char; 3];

fn grams(text: &str) -> impl Iterator<Item = Gram> + '_ {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len().saturating_sub(2)).map(move |i| [chars[i], chars[i + 1], chars[i + 2]])
}

fn post<K: std::hash::Hash + Eq>(map: &mut Postings<K>, key: K, slot: u32) {
    map.entry(key).or_default().insert(slot);
}

fn unpost<K: std::hash::Hash + Eq>(map: &mut Postings<K>, key: &K, slot: u32) {
    if let Some(b) = map.get_mut(key) {
        b.remove(slot);
        if b.is_empty() {
            map.remove(key);
        }
    }
}

/// The index proper, at change sequence `seq`: compressed bitmaps of versions per scope
/// (org, public), per name, per facet value and per trigram of names and summaries, and one
/// ordering per sort key. A query intersects bitmaps (its `total` is a cardinality) and reads
/// its page off the ordering, so neither grows with the number of matching versions.
pub struct Index {
    seq: i64,
    datasets: HashMap<Uuid, DatasetEntry>,
    strings: Interner,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    /// Every live slot.
    live: RoaringBitmap,
    /// search text → every version whose name or summary contains it, for the searches
    /// asked since the index last changed (at most [`SEARCHES_KEPT`])
    searches: std::sync::Mutex<HashMap<Box<str>, Arc<RoaringBitmap>>>,
    public: RoaringBitmap,
    orgs: Postings<Uuid>,
    names: Postings<Arc<str>>,
    full_names: Postings<Arc<str>>,
    tags: Postings<u32>,
    tasks: Postings<u32>,
    licenses: Postings<u32>,
    formats: Postings<u32>,
    sizes: Postings<u32>,
    grams: Postings<Gram>,
    by_name: BTreeSet<(Arc<str>, Uuid, u32)>,
    by_created: BTreeSet<(i64, Uuid, u32)>,
    by_updated: BTreeSet<(i64, Uuid, u32)>,
    by_rows: BTreeSet<(u64, Uuid, u32)>,
    by_size: BTreeSet<(u64, Uuid, u32)>,
    /// Every page is found along an ordering, and every search through the index-wide
    /// results (tests of those paths).
    #[cfg(test)]
    always_walk: bool,
}

/// A filter with its values resolved to interned ids. `Some(empty)` matches nothing.
struct Compiled {
    /// `org/name` when the filter named the org, else the bare name.
    full_name: Option<String>,
    name: Option<String>,
    search: Option<String>,
    tags: Option<Vec<u32>>,
    tasks: Option<Vec<u32>>,
    licenses: Option<Vec<u32>>,
    formats: Option<Vec<u32>>,
    sizes: Option<Vec<u32>>,
}

/// Matches up to this many are sorted directly rather than found along an ordering.
const SORT_DIRECTLY: u64 = 1024;

/// Search results kept per index state; beyond it they are all dropped.
const SEARCHES_KEPT: usize = 256;

/// Fewer candidates than this are checked against a search directly, not through the
/// index-wide result.
const SEARCH_DIRECTLY: u64 = 2048;

impl Index {
    fn empty() -> Self {
        Index {
            seq: 0,
            datasets: HashMap::new(),
            strings: Interner::default(),
            slots: Vec::new(),
            free: Vec::new(),
            live: RoaringBitmap::new(),
            searches: std::sync::Mutex::new(HashMap::new()),
            public: RoaringBitmap::new(),
            orgs: HashMap::new(),
            names: HashMap::new(),
            full_names: HashMap::new(),
            tags: HashMap::new(),
            tasks: HashMap::new(),
            licenses: HashMap::new(),
            formats: HashMap::new(),
            sizes: HashMap::new(),
            grams: HashMap::new(),
            by_name: BTreeSet::new(),
            by_created: BTreeSet::new(),
            by_updated: BTreeSet::new(),
            by_rows: BTreeSet::new(),
            by_size: BTreeSet::new(),
            #[cfg(test)]
            always_walk: false,
        }
    }

    /// How many versions are indexed.
    pub fn versions(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Replaces the given datasets' entries with `rows` (a dataset with no rows is gone).
    fn apply(&mut self, dataset_ids: &[Uuid], rows: Vec<CatalogRow>) {
        self.searches.get_mut().expect("poisoned").clear();
        for id in dataset_ids {
            if let Some(d) = self.datasets.remove(id) {
                for slot in d.slots {
                    self.remove_slot(slot, d.org, d.public, &d.name);
                }
            }
        }
        for r in rows {
            let d = self.datasets.entry(r.dataset_id).or_insert_with(|| DatasetEntry {
                org: r.org_id,
                name: r.name.as_str().into(),
                full_name: r.full_name.as_str().into(),
                public: r.is_public,
                slots: Vec::new(),
            });
            let (org, public, name, full_name) = (d.org, d.public, d.name.clone(), d.full_name.clone());
            let listing = DatasetSummary {
                id: r.id,
                name: r.full_name.clone(),
                version: r.version.to_string(),
                format: r.format.clone(),
                is_public: public,
                download_count: 0,
                created_at: iso(r.created_at),
                updated_at: iso(r.updated_at),
                origin: r.origin.clone(),
                summary: r.summary.clone(),
                pretty_name: r.pretty_name.clone(),
                tags: r.tags.clone(),
                license: r.license.clone(),
                task_categories: r.task_categories.clone(),
                language: r.language.clone(),
                size_category: r.size_category.clone(),
                row_count: r.row_count,
                file_size_bytes: r.file_size_bytes,
            };
            let s = &mut self.strings;
            let entry = Entry {
                id: r.id,
                dataset: r.dataset_id,
                version: r.version,
                full_name: full_name.clone(),
                name_lc: name.to_lowercase().into(),
                summary_lc: r.summary.as_deref().unwrap_or("").to_lowercase().into(),
                // Tags, tasks and licenses match and count regardless of case: `Aviation`
                // and `aviation` are one value, shown in lower case.
                tags: folded_ids(s, &r.tags),
                tasks: folded_ids(s, &r.task_categories),
                license: r.license.as_deref().map(|l| s.intern(&l.to_lowercase())),
                format: s.intern(&r.format),
                size_category: s.intern(&r.size_category),
                rows: r.row_count,
                size: r.file_size_bytes,
                created: r.created_at.timestamp_micros(),
                updated: r.updated_at.timestamp_micros(),
                listing,
            };
            let slot = match self.free.pop() {
                Some(slot) => slot,
                None => {
                    self.slots.push(None);
                    (self.slots.len() - 1) as u32
                }
            };
            self.live.insert(slot);
            if public {
                self.public.insert(slot);
            }
            post(&mut self.orgs, org, slot);
            post(&mut self.names, name, slot);
            post(&mut self.full_names, full_name.clone(), slot);
            for t in entry.tags.iter() {
                post(&mut self.tags, *t, slot);
            }
            for t in entry.tasks.iter() {
                post(&mut self.tasks, *t, slot);
            }
            if let Some(l) = entry.license {
                post(&mut self.licenses, l, slot);
            }
            post(&mut self.formats, entry.format, slot);
            post(&mut self.sizes, entry.size_category, slot);
            for g in grams(&entry.name_lc).chain(grams(&entry.summary_lc)) {
                post(&mut self.grams, g, slot);
            }
            self.by_name.insert((full_name, entry.id, slot));
            self.by_created.insert((entry.created, entry.id, slot));
            self.by_updated.insert((entry.updated, entry.id, slot));
            self.by_rows.insert((entry.rows, entry.id, slot));
            self.by_size.insert((entry.size, entry.id, slot));
            self.slots[slot as usize] = Some(entry);
            self.datasets.get_mut(&r.dataset_id).expect("inserted").slots.push(slot);
        }
    }

    fn remove_slot(&mut self, slot: u32, org: Uuid, public: bool, name: &Arc<str>) {
        let Some(e) = self.slots[slot as usize].take() else {
            return;
        };
        self.live.remove(slot);
        if public {
            self.public.remove(slot);
        }
        unpost(&mut self.orgs, &org, slot);
        unpost(&mut self.names, name, slot);
        unpost(&mut self.full_names, &e.full_name, slot);
        for t in e.tags.iter() {
            unpost(&mut self.tags, t, slot);
        }
        for t in e.tasks.iter() {
            unpost(&mut self.tasks, t, slot);
        }
        if let Some(l) = e.license {
            unpost(&mut self.licenses, &l, slot);
        }
        unpost(&mut self.formats, &e.format, slot);
        unpost(&mut self.sizes, &e.size_category, slot);
        for g in grams(&e.name_lc).chain(grams(&e.summary_lc)) {
            unpost(&mut self.grams, &g, slot);
        }
        self.by_name.remove(&(e.full_name.clone(), e.id, slot));
        self.by_created.remove(&(e.created, e.id, slot));
        self.by_updated.remove(&(e.updated, e.id, slot));
        self.by_rows.remove(&(e.rows, e.id, slot));
        self.by_size.remove(&(e.size, e.id, slot));
        self.free.push(slot);
    }

    fn entry(&self, slot: u32) -> &Entry {
        self.slots[slot as usize].as_ref().expect("a bitmap names a live slot")
    }

    fn compile(&self, f: &ListFilter) -> Compiled {
        self.strings.compile(f)
    }

    fn scope_set(&self, scope: Scope) -> RoaringBitmap {
        let org = |o: &Uuid| self.orgs.get(o).cloned().unwrap_or_default();
        match scope {
            Scope::Org(o) => org(&o),
            Scope::OrgPublic(o) => org(&o) & &self.public,
            Scope::OrgAndPublic(o) => org(&o) | &self.public,
            Scope::Public => self.public.clone(),
        }
    }

    /// The versions in scope that pass the name and search filters.
    fn base(&self, scope: Scope, c: &Compiled) -> RoaringBitmap {
        let mut m = self.scope_set(scope);
        let none = RoaringBitmap::new();
        if let Some(f) = &c.full_name {
            m &= self.full_names.get(f.as_str()).unwrap_or(&none);
        }
        if let Some(n) = &c.name {
            m &= self.names.get(n.as_str()).unwrap_or(&none);
        }
        if let Some(q) = &c.search {
            let direct = m.len() < SEARCH_DIRECTLY;
            // The walking index of the tests takes the other path too.
            #[cfg(test)]
            let direct = direct && !self.always_walk;
            if direct {
                m = self.search_among(m, q);
            } else {
                m &= &*self.search_everywhere(q);
            }
        }
        m
    }

    /// The versions of `m` whose lowercased name or summary contains `q`: candidates hold
    /// every trigram of `q`, and each is then checked in full.
    fn search_among(&self, mut m: RoaringBitmap, q: &str) -> RoaringBitmap {
        let none = RoaringBitmap::new();
        for g in grams(q) {
            if m.is_empty() {
                break;
            }
            m &= self.grams.get(&g).unwrap_or(&none);
        }
        m.iter()
            .filter(|s| {
                let e = self.entry(*s);
                e.name_lc.contains(q) || e.summary_lc.contains(q)
            })
            .collect()
    }

    /// Every version matching search `q`, kept until the index changes: popular searches
    /// and the pages of one search cost one intersection after the first.
    fn search_everywhere(&self, q: &str) -> Arc<RoaringBitmap> {
        if let Some(hit) = self.searches.lock().expect("poisoned").get(q) {
            return hit.clone();
        }
        let found = Arc::new(self.search_among(self.live.clone(), q));
        let mut kept = self.searches.lock().expect("poisoned");
        if kept.len() >= SEARCHES_KEPT {
            kept.clear();
        }
        kept.insert(q.into(), found.clone());
        found
    }

    /// The versions having any of `want` in `map`; `None` when there is no such filter.
    fn any_of(map: &Postings<u32>, want: &Option<Vec<u32>>) -> Option<RoaringBitmap> {
        let want = want.as_ref()?;
        let mut m = RoaringBitmap::new();
        for v in want {
            if let Some(b) = map.get(v) {
                m |= b;
            }
        }
        Some(m)
    }

    /// The five facet filters as bitmaps, in the order tags, tasks, licenses, formats, sizes.
    fn facet_sets(&self, c: &Compiled) -> [Option<RoaringBitmap>; 5] {
        [
            Self::any_of(&self.tags, &c.tags),
            Self::any_of(&self.tasks, &c.tasks),
            Self::any_of(&self.licenses, &c.licenses),
            Self::any_of(&self.formats, &c.formats),
            Self::any_of(&self.sizes, &c.sizes),
        ]
    }

    /// Of each dataset's versions in `m`, the highest.
    fn highest_per_dataset(&self, m: &RoaringBitmap) -> RoaringBitmap {
        let mut best: HashMap<Uuid, u32> = HashMap::new();
        for slot in m {
            let e = self.entry(slot);
            let b = best.entry(e.dataset).or_insert(slot);
            if e.version > self.entry(*b).version {
                *b = slot;
            }
        }
        best.into_values().collect()
    }

    /// The ids on one page in a total, stable order (the sort key, then the version id;
    /// both reversed for `desc`), and how many versions match in all.
    pub fn list(&self, q: &ListQuery) -> (Vec<Uuid>, u64) {
        let (slots, total) = self.page(q);
        (slots.into_iter().map(|s| self.entry(s).id).collect(), total)
    }

    /// A dataset's versions, highest first; `None` when the index does not hold it.
    pub fn versions_of(&self, dataset: Uuid) -> Option<Vec<granary_core::Version>> {
        let d = self.datasets.get(&dataset)?;
        let mut v: Vec<granary_core::Version> = d.slots.iter().map(|s| self.entry(*s).version).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        Some(v)
    }

    /// [`Self::list`] with each version as listings show it; `download_count` is left 0 for
    /// the caller to fill in from the store.
    pub fn list_summaries(&self, q: &ListQuery) -> (Vec<DatasetSummary>, u64) {
        let (slots, total) = self.page(q);
        (
            slots.into_iter().map(|s| self.entry(s).listing.clone()).collect(),
            total,
        )
    }

    /// The slots on one page, in order, and how many versions match in all.
    fn page(&self, q: &ListQuery) -> (Vec<u32>, u64) {
        let c = self.compile(&q.filter);
        let mut m = self.base(q.scope, &c);
        for set in self.facet_sets(&c).iter().flatten() {
            m &= set;
        }
        if q.group {
            m = self.highest_per_dataset(&m);
        }
        let total = m.len();
        let offset = q.offset.min(total);
        let end = q.offset.saturating_add(q.limit).min(total);
        if offset >= end {
            return (Vec::new(), total);
        }
        // Along an ordering, about end × (all / matches) entries are looked at; sorting the
        // matches costs about matches × log(matches).
        let walk = end.saturating_mul(self.versions() as u64) / total.max(1);
        let sort = total.saturating_mul(u64::from(64 - total.leading_zeros()));
        #[cfg(test)]
        let (walk, sort) = if self.always_walk { (0, 1) } else { (walk, sort) };
        let page = if (total <= SORT_DIRECTLY && walk > 0) || sort < walk {
            self.sorted_page(&m, q, offset as usize, end as usize)
        } else {
            let (skip, take) = (offset as usize, (end - offset) as usize);
            match q.sort {
                SortKey::Name => walk_page(&self.by_name, q.dir, &m, skip, take),
                SortKey::CreatedAt => walk_page(&self.by_created, q.dir, &m, skip, take),
                SortKey::UpdatedAt => walk_page(&self.by_updated, q.dir, &m, skip, take),
                SortKey::RowCount => walk_page(&self.by_rows, q.dir, &m, skip, take),
                SortKey::FileSizeBytes => walk_page(&self.by_size, q.dir, &m, skip, take),
            }
        };
        (page, total)
    }

    fn sorted_page(&self, m: &RoaringBitmap, q: &ListQuery, offset: usize, end: usize) -> Vec<u32> {
        let mut hits: Vec<(u32, &Entry)> = m.iter().map(|s| (s, self.entry(s))).collect();
        let cmp = |(_, a): &(u32, &Entry), (_, b): &(u32, &Entry)| -> Ordering {
            let key = match q.sort {
                SortKey::Name => a.full_name.cmp(&b.full_name),
                SortKey::CreatedAt => a.created.cmp(&b.created),
                SortKey::UpdatedAt => a.updated.cmp(&b.updated),
                SortKey::RowCount => a.rows.cmp(&b.rows),
                SortKey::FileSizeBytes => a.size.cmp(&b.size),
            };
            let o = key.then_with(|| a.id.cmp(&b.id));
            match q.dir {
                SortDir::Asc => o,
                SortDir::Desc => o.reverse(),
            }
        };
        if end < hits.len() {
            // Only the first `end` need ordering.
            hits.select_nth_unstable_by(end - 1, cmp);
            hits.truncate(end);
        }
        hits.sort_unstable_by(cmp);
        hits[offset..end].iter().map(|(s, _)| *s).collect()
    }

    /// Facet counts, each computed with every filter but its own.
    pub fn facets(&self, scope: Scope, f: &ListFilter) -> Facets {
        let c = self.compile(f);
        let base = self.base(scope, &c);
        let sets = self.facet_sets(&c);
        let maps = [&self.tags, &self.tasks, &self.licenses, &self.formats, &self.sizes];
        let mut counts: [Vec<(String, u64)>; 5] = Default::default();
        for (i, map) in maps.iter().enumerate() {
            let mut b = base.clone();
            for (j, set) in sets.iter().enumerate() {
                if let (true, Some(set)) = (i != j, set) {
                    b &= set;
                }
            }
            counts[i] = self.count_values(&b, map, i);
        }
        let mut all = base;
        for set in sets.iter().flatten() {
            all &= set;
        }
        let [tags, task_categories, licenses, formats, size_categories] = counts;
        Facets {
            tags,
            licenses,
            task_categories,
            formats,
            size_categories,
            filtered_total: all.len(),
            total: self.scope_set(scope).len(),
        }
    }

    /// How many of `b` have each value of facet `which` (0 tags … 4 sizes), most first:
    /// by intersecting with each value's bitmap, or by reading `b`'s entries when it is the
    /// smaller job.
    fn count_values(&self, b: &RoaringBitmap, map: &Postings<u32>, which: usize) -> Vec<(String, u64)> {
        let mut out: Vec<(u32, u64)> = Vec::new();
        if b.len() < map.len() as u64 * 8 {
            let mut m: HashMap<u32, u64> = HashMap::new();
            for slot in b {
                let e = self.entry(slot);
                let mut one = |v: u32| *m.entry(v).or_default() += 1;
                match which {
                    0 | 1 => {
                        let vals = if which == 0 { &e.tags } else { &e.tasks };
                        for (k, v) in vals.iter().enumerate() {
                            if !vals[..k].contains(v) {
                                one(*v);
                            }
                        }
                    }
                    2 => {
                        if let Some(l) = e.license {
                            one(l);
                        }
                    }
                    3 => one(e.format),
                    _ => one(e.size_category),
                }
            }
            out.extend(m);
        } else {
            for (v, set) in map {
                let n = b.intersection_len(set);
                if n > 0 {
                    out.push((*v, n));
                }
            }
        }
        let mut v: Vec<(String, u64)> = out
            .into_iter()
            .map(|(k, n)| (self.strings.name(k).to_string(), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// `take` slots of `m`, after skipping `skip` of them, in `set`'s order (reversed for `desc`).
fn walk_page<K: Ord>(
    set: &BTreeSet<(K, Uuid, u32)>,
    dir: SortDir,
    m: &RoaringBitmap,
    skip: usize,
    take: usize,
) -> Vec<u32> {
    let hit = |t: &&(K, Uuid, u32)| m.contains(t.2);
    match dir {
        SortDir::Asc => set.iter().filter(hit).skip(skip).take(take).map(|t| t.2).collect(),
        SortDir::Desc => set
            .iter()
            .rev()
            .filter(hit)
            .skip(skip)
            .take(take)
            .map(|t| t.2)
            .collect(),
    }
}

/// The shared, self-refreshing index.
pub struct Catalog {
    index: RwLock<Option<Index>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            index: RwLock::new(None),
        }
    }
}

impl Catalog {
    /// The index, brought up to date with the store first when it is behind `marks` (the
    /// request's, read after it arrived: see [`crate::fresh`]).
    pub async fn fresh(&self, db: &dyn MetadataStore, marks: ChangeMarks) -> ApiResult<RwLockReadGuard<'_, Index>> {
        {
            let guard = self.index.read().await;
            if guard.as_ref().is_some_and(|ix| ix.seq >= marks.catalog) {
                return Ok(RwLockReadGuard::map(guard, |o| o.as_ref().expect("checked")));
            }
        }
        let mut guard = self.index.write().await;
        match guard.as_mut() {
            None => {
                let (seq, rows) = db.catalog_snapshot().await?;
                let mut ix = Index::empty();
                ix.apply(&[], rows);
                ix.seq = seq;
                tracing::info!(versions = ix.versions(), "catalog loaded");
                *guard = Some(ix);
            }
            // Another request may have brought it up to date meanwhile.
            Some(ix) if ix.seq >= marks.catalog => {}
            Some(ix) => {
                let (newest, changed) = db.catalog_changes(ix.seq).await?;
                if !changed.is_empty() {
                    let rows = db.catalog_rows(&changed).await?;
                    ix.apply(&changed, rows);
                }
                ix.seq = newest;
            }
        }
        let guard = guard.downgrade();
        Ok(RwLockReadGuard::map(guard, |o| o.as_ref().expect("just loaded")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// The reference: the same queries answered by a pass over every version.
    #[allow(dead_code)]
    mod scan {
        use super::super::*;
        struct Entry {
            id: Uuid,
            version: granary_core::Version,
            summary_lc: Box<str>,
            tags: Box<[u32]>,
            tasks: Box<[u32]>,
            license: Option<u32>,
            format: u32,
            size_category: u32,
            rows: u64,
            size: u64,
            created: i64,
            updated: i64,
        }

        struct DatasetEntry {
            org: Uuid,
            name: Arc<str>,
            full_name: Arc<str>,
            name_lc: Box<str>,
            public: bool,
            versions: Vec<Entry>,
        }

        /// The catalog as it was first built: every query a pass over the versions in scope.
        pub struct ScanIndex {
            seq: i64,
            datasets: HashMap<Uuid, DatasetEntry>,
            strings: Interner,
        }

        /// Which of the five facet filters a version passes.
        #[derive(Clone, Copy)]
        struct Pass {
            tags: bool,
            tasks: bool,
            licenses: bool,
            formats: bool,
            sizes: bool,
        }

        impl Pass {
            fn all(self) -> bool {
                self.tags && self.tasks && self.licenses && self.formats && self.sizes
            }
        }

        fn any_of(want: &Option<Vec<u32>>, have: &[u32]) -> bool {
            want.as_ref().is_none_or(|w| have.iter().any(|h| w.contains(h)))
        }

        fn one_of(want: &Option<Vec<u32>>, have: Option<u32>) -> bool {
            want.as_ref().is_none_or(|w| have.is_some_and(|h| w.contains(&h)))
        }

        impl ScanIndex {
            pub fn empty() -> Self {
                ScanIndex {
                    seq: 0,
                    datasets: HashMap::new(),
                    strings: Interner::default(),
                }
            }

            /// Replaces the given datasets' entries with `rows` (a dataset with no rows is gone).
            pub fn apply(&mut self, dataset_ids: &[Uuid], rows: Vec<CatalogRow>) {
                for id in dataset_ids {
                    self.datasets.remove(id);
                }
                for r in rows {
                    let s = &mut self.strings;
                    let entry = Entry {
                        id: r.id,
                        version: r.version,
                        summary_lc: r.summary.as_deref().unwrap_or("").to_lowercase().into(),
                        tags: r.tags.iter().map(|t| s.intern(t)).collect(),
                        tasks: r.task_categories.iter().map(|t| s.intern(t)).collect(),
                        license: r.license.as_deref().map(|l| s.intern(l)),
                        format: s.intern(&r.format),
                        size_category: s.intern(&r.size_category),
                        rows: r.row_count,
                        size: r.file_size_bytes,
                        created: r.created_at.timestamp_micros(),
                        updated: r.updated_at.timestamp_micros(),
                    };
                    let d = self.datasets.entry(r.dataset_id).or_insert_with(|| DatasetEntry {
                        org: r.org_id,
                        name_lc: r.name.to_lowercase().into(),
                        name: r.name.as_str().into(),
                        full_name: r.full_name.as_str().into(),
                        public: r.is_public,
                        versions: Vec::new(),
                    });
                    d.public = r.is_public;
                    d.versions.push(entry);
                }
            }

            fn compile(&self, f: &ListFilter) -> Compiled {
                self.strings.compile(f)
            }

            fn in_scope(scope: Scope, d: &DatasetEntry) -> bool {
                match scope {
                    Scope::Org(org) => d.org == org,
                    Scope::OrgPublic(org) => d.org == org && d.public,
                    Scope::OrgAndPublic(org) => d.org == org || d.public,
                    Scope::Public => d.public,
                }
            }

            /// Every version in scope that passes the name and search filters, with its facet passes.
            fn candidates<'a>(
                &'a self,
                scope: Scope,
                c: &'a Compiled,
            ) -> impl Iterator<Item = (&'a DatasetEntry, &'a Entry, Pass)> + 'a {
                self.datasets
                    .values()
                    .filter(move |d| Self::in_scope(scope, d))
                    .filter(move |d| c.full_name.as_deref().is_none_or(|f| *d.full_name == *f))
                    .filter(move |d| c.name.as_deref().is_none_or(|n| *d.name == *n))
                    .flat_map(move |d| {
                        let name_hit = c.search.as_ref().is_none_or(|s| d.name_lc.contains(s.as_str()));
                        d.versions.iter().filter_map(move |e| {
                            if !name_hit && !c.search.as_ref().is_some_and(|s| e.summary_lc.contains(s.as_str())) {
                                return None;
                            }
                            let pass = Pass {
                                tags: any_of(&c.tags, &e.tags),
                                tasks: any_of(&c.tasks, &e.tasks),
                                licenses: one_of(&c.licenses, e.license),
                                formats: one_of(&c.formats, Some(e.format)),
                                sizes: one_of(&c.sizes, Some(e.size_category)),
                            };
                            Some((d, e, pass))
                        })
                    })
            }

            /// The ids on one page in a total, stable order, and how many versions match in all.
            pub fn list(&self, q: &ListQuery) -> (Vec<Uuid>, u64) {
                let c = self.compile(&q.filter);
                let mut hits: Vec<(&DatasetEntry, &Entry)> = self
                    .candidates(q.scope, &c)
                    .filter(|(_, _, p)| p.all())
                    .map(|(d, e, _)| (d, e))
                    .collect();
                if q.group {
                    let mut best: HashMap<*const DatasetEntry, &Entry> = HashMap::new();
                    for (d, e) in &hits {
                        let slot = best.entry(*d as *const DatasetEntry).or_insert(e);
                        if e.version > slot.version {
                            *slot = e;
                        }
                    }
                    hits.retain(|(d, e)| std::ptr::eq(best[&(*d as *const DatasetEntry)], *e));
                }
                let total = hits.len() as u64;
                let cmp = |a: &(&DatasetEntry, &Entry), b: &(&DatasetEntry, &Entry)| -> Ordering {
                    let key = match q.sort {
                        SortKey::Name => a.0.full_name.cmp(&b.0.full_name),
                        SortKey::CreatedAt => a.1.created.cmp(&b.1.created),
                        SortKey::UpdatedAt => a.1.updated.cmp(&b.1.updated),
                        SortKey::RowCount => a.1.rows.cmp(&b.1.rows),
                        SortKey::FileSizeBytes => a.1.size.cmp(&b.1.size),
                    };
                    let o = key.then_with(|| a.1.id.cmp(&b.1.id));
                    match q.dir {
                        SortDir::Asc => o,
                        SortDir::Desc => o.reverse(),
                    }
                };
                let offset = q.offset.min(total) as usize;
                let end = (q.offset.saturating_add(q.limit)).min(total) as usize;
                if end < hits.len() && end > 0 {
                    // Only the first `end` rows need ordering.
                    hits.select_nth_unstable_by(end - 1, cmp);
                    hits.truncate(end);
                }
                hits.sort_unstable_by(cmp);
                let page = hits.get(offset..end).unwrap_or(&[]).iter().map(|(_, e)| e.id).collect();
                (page, total)
            }

            /// Facet counts, each computed with every filter but its own, in one pass.
            pub fn facets(&self, scope: Scope, f: &ListFilter) -> Facets {
                let c = self.compile(f);
                let mut tags: HashMap<u32, u64> = HashMap::new();
                let mut tasks: HashMap<u32, u64> = HashMap::new();
                let mut licenses: HashMap<u32, u64> = HashMap::new();
                let mut formats: HashMap<u32, u64> = HashMap::new();
                let mut sizes: HashMap<u32, u64> = HashMap::new();
                let mut filtered_total = 0;
                for (_, e, p) in self.candidates(scope, &c) {
                    if p.tasks && p.licenses && p.formats && p.sizes {
                        let mut seen: Vec<u32> = Vec::with_capacity(e.tags.len());
                        for t in e.tags.iter() {
                            if !seen.contains(t) {
                                seen.push(*t);
                                *tags.entry(*t).or_default() += 1;
                            }
                        }
                    }
                    if p.tags && p.licenses && p.formats && p.sizes {
                        let mut seen: Vec<u32> = Vec::with_capacity(e.tasks.len());
                        for t in e.tasks.iter() {
                            if !seen.contains(t) {
                                seen.push(*t);
                                *tasks.entry(*t).or_default() += 1;
                            }
                        }
                    }
                    if p.tags && p.tasks && p.formats && p.sizes {
                        if let Some(l) = e.license {
                            *licenses.entry(l).or_default() += 1;
                        }
                    }
                    if p.tags && p.tasks && p.licenses && p.sizes {
                        *formats.entry(e.format).or_default() += 1;
                    }
                    if p.tags && p.tasks && p.licenses && p.formats {
                        *sizes.entry(e.size_category).or_default() += 1;
                    }
                    filtered_total += p.all() as u64;
                }
                let total = self
                    .datasets
                    .values()
                    .filter(|d| Self::in_scope(scope, d))
                    .map(|d| d.versions.len() as u64)
                    .sum();
                let named = |m: HashMap<u32, u64>| {
                    let mut v: Vec<(String, u64)> = m
                        .into_iter()
                        .map(|(k, n)| (self.strings.name(k).to_string(), n))
                        .collect();
                    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    v
                };
                Facets {
                    tags: named(tags),
                    licenses: named(licenses),
                    task_categories: named(tasks),
                    formats: named(formats),
                    size_categories: named(sizes),
                    filtered_total,
                    total,
                }
            }
        }
    }

    const WORDS: [&str; 8] = ["recipes", "chat", "Qa", "images", "ÉTÉ", "logs", "math", "a"];
    const TAGS: [&str; 6] = ["nlp", "qa", "vision", "audio", "code", "mit"];
    const LICENSES: [&str; 3] = ["mit", "apache-2.0", "cc-by-4.0"];
    const FORMATS: [&str; 3] = ["parquet", "csv", "jsonl"];
    const SIZES: [&str; 3] = ["n<1K", "1K<n<10K", "10K<n<100K"];

    fn pick<R: Rng>(rng: &mut R, from: &[&str], max: usize) -> Vec<String> {
        (0..rng.random_range(0..=max))
            .map(|_| from[rng.random_range(0..from.len())].to_string())
            .collect()
    }

    fn rows_of<R: Rng>(rng: &mut R, orgs: &[Uuid], dataset: Uuid, n: usize) -> Vec<CatalogRow> {
        let org = orgs[rng.random_range(0..orgs.len())];
        let name = format!(
            "{}-{}",
            WORDS[rng.random_range(0..WORDS.len())].to_lowercase(),
            rng.random_range(0..40)
        );
        let public = rng.random_bool(0.4);
        (0..n)
            .map(|i| {
                let t = chrono::DateTime::from_timestamp(1_700_000_000 + rng.random_range(0..50), 0).unwrap();
                CatalogRow {
                    id: Uuid::new_v4(),
                    dataset_id: dataset,
                    org_id: org,
                    name: name.clone(),
                    full_name: format!("org{}/{name}", orgs.iter().position(|o| *o == org).unwrap()),
                    version: format!("1.{i}.{}", rng.random_range(0..3)).parse().unwrap(),
                    is_public: public,
                    summary: rng.random_bool(0.8).then(|| pick(rng, &WORDS, 4).join(" ")),
                    tags: pick(rng, &TAGS, 3),
                    task_categories: pick(rng, &TAGS[..3], 2),
                    license: rng
                        .random_bool(0.7)
                        .then(|| LICENSES[rng.random_range(0..3)].to_string()),
                    format: FORMATS[rng.random_range(0..3)].to_string(),
                    size_category: SIZES[rng.random_range(0..3)].to_string(),
                    row_count: rng.random_range(0..5),
                    file_size_bytes: rng.random_range(0..5),
                    created_at: t,
                    updated_at: t + chrono::Duration::seconds(rng.random_range(0..3)),
                    pretty_name: None,
                    language: None,
                    origin: None,
                }
            })
            .collect()
    }

    fn filter_of<R: Rng>(rng: &mut R) -> ListFilter {
        let search = rng.random_bool(0.3).then(|| {
            let w = WORDS[rng.random_range(0..WORDS.len())];
            let chars: Vec<char> = w.chars().collect();
            let a = rng.random_range(0..chars.len());
            let b = rng.random_range(a + 1..=chars.len());
            let s: String = chars[a..b].iter().collect();
            if rng.random_bool(0.1) {
                "zzz".to_string()
            } else {
                s
            }
        });
        ListFilter {
            name: rng.random_bool(0.1).then(|| {
                let n = format!(
                    "{}-{}",
                    WORDS[rng.random_range(0..WORDS.len())].to_lowercase(),
                    rng.random_range(0..40)
                );
                (
                    rng.random_bool(0.5).then(|| format!("org{}", rng.random_range(0..3))),
                    n,
                )
            }),
            search,
            tags: if rng.random_bool(0.3) {
                pick(rng, &TAGS, 2)
            } else {
                vec![]
            },
            licenses: if rng.random_bool(0.2) {
                pick(rng, &LICENSES, 2)
            } else {
                vec![]
            },
            task_categories: if rng.random_bool(0.2) {
                pick(rng, &TAGS, 2)
            } else {
                vec![]
            },
            formats: if rng.random_bool(0.2) {
                pick(rng, &FORMATS, 2)
            } else {
                vec![]
            },
            size_categories: if rng.random_bool(0.2) {
                pick(rng, &SIZES, 1)
            } else {
                vec![]
            },
        }
    }

    /// The bitmap index answers every list and facet query exactly as a pass over every
    /// version does, also after datasets change, disappear and come back.
    #[test]
    fn bitmap_index_agrees_with_a_scan() {
        let mut rng = StdRng::seed_from_u64(7);
        let orgs: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let mut ix = Index::empty();
        // The same index, finding every page along its orderings.
        let mut walking = Index::empty();
        walking.always_walk = true;
        let mut reference = scan::ScanIndex::empty();
        let datasets: Vec<Uuid> = (0..120).map(|_| Uuid::new_v4()).collect();
        let mut queries = 0;
        for round in 0..6 {
            // Round 0 loads everything; later rounds replace or remove a third.
            let changed: Vec<Uuid> = if round == 0 {
                datasets.clone()
            } else {
                datasets.iter().copied().filter(|_| rng.random_bool(0.33)).collect()
            };
            let mut rows = Vec::new();
            for d in &changed {
                let n = if round > 0 && rng.random_bool(0.2) {
                    0
                } else {
                    rng.random_range(1..25)
                };
                rows.extend(rows_of(&mut rng, &orgs, *d, n));
            }
            ix.apply(&changed, rows.clone());
            walking.apply(&changed, rows.clone());
            reference.apply(&changed, rows);
            for _ in 0..300 {
                let scope = match rng.random_range(0..4) {
                    0 => Scope::Org(orgs[rng.random_range(0..3)]),
                    1 => Scope::OrgPublic(orgs[rng.random_range(0..3)]),
                    2 => Scope::OrgAndPublic(orgs[rng.random_range(0..3)]),
                    _ => Scope::Public,
                };
                let q = ListQuery {
                    scope,
                    filter: filter_of(&mut rng),
                    sort: [
                        SortKey::Name,
                        SortKey::CreatedAt,
                        SortKey::UpdatedAt,
                        SortKey::RowCount,
                        SortKey::FileSizeBytes,
                    ][rng.random_range(0..5)],
                    dir: if rng.random_bool(0.5) {
                        SortDir::Asc
                    } else {
                        SortDir::Desc
                    },
                    offset: [0, 0, 3, 20, 200, 5000][rng.random_range(0..6)],
                    limit: [1, 7, 50, 200][rng.random_range(0..4)],
                    group: rng.random_bool(0.2),
                };
                let expected = reference.list(&q);
                assert_eq!(ix.list(&q), expected, "round {round}: {q:?}");
                assert_eq!(walking.list(&q), expected, "round {round}, walking: {q:?}");
                assert_eq!(
                    ix.facets(q.scope, &q.filter),
                    reference.facets(q.scope, &q.filter),
                    "round {round}: {q:?}"
                );
                queries += 1;
            }
        }
        assert_eq!(queries, 1800);
    }
}
