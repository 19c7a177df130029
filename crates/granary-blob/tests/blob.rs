use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use granary_blob::{BlobError, BlobStore};
use granary_core::Digest;

type Chunk = Result<Bytes, std::io::Error>;

fn chunks(data: &[u8], size: usize) -> Vec<Chunk> {
    data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

async fn read_all(store: &BlobStore, org: &str, d: &Digest, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let s = store.get(org, d, range).await.unwrap();
    let parts: Vec<Bytes> = s.stream.try_collect().await.unwrap();
    parts.concat()
}

#[tokio::test]
async fn put_then_get_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let bytes = data(100_000);
    let d = Digest::of(&bytes);
    assert_eq!(store.stat("acme", &d).await.unwrap(), None);
    let size = store.put("acme", &d, stream::iter(chunks(&bytes, 7000))).await.unwrap();
    assert_eq!(size, 100_000);
    assert_eq!(store.stat("acme", &d).await.unwrap(), Some(100_000));
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
    assert_eq!(read_all(&store, "acme", &d, Some(10..20)).await, &bytes[10..20]);
    // blobs are scoped to their org
    assert_eq!(store.stat("other", &d).await.unwrap(), None);
    // the blob sits at its content address, and no staging is left behind
    let hex = d.hex();
    assert!(dir
        .path()
        .join(format!("blobs/acme/sha256/{}/{hex}", &hex[..2]))
        .is_file());
    assert_eq!(
        std::fs::read_dir(dir.path().join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn chunked_upload_checks_offsets_and_commits_once_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let bytes = data(50_000);
    let d = Digest::of(&bytes);
    let up = store.start_upload("acme", "mnist").await.unwrap();
    let (_, off) = store
        .append(up.id, Some(0), stream::iter(chunks(&bytes[..20_000], 4096)))
        .await
        .unwrap();
    assert_eq!(off, 20_000);
    let err = store
        .append(up.id, Some(10_000), stream::iter(chunks(&bytes[10_000..], 4096)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BlobError::OffsetMismatch {
                expected: 20_000,
                got: 10_000
            }
        ),
        "{err}"
    );
    let (_, off) = store
        .append(up.id, Some(20_000), stream::iter(chunks(&bytes[20_000..], 4096)))
        .await
        .unwrap();
    assert_eq!(off, 50_000);
    // on a local store the second chunk continued the first one's file
    let parts = std::fs::read_dir(dir.path().join("uploads").join(up.id.to_string()))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .count();
    assert_eq!(parts, 1);
    assert_eq!(store.stat("acme", &d).await.unwrap(), None, "not visible before finish");
    let (info, size) = store.finish(up.id, &d).await.unwrap();
    assert_eq!((info.repo.as_str(), size), ("mnist", 50_000));
    // the two parts were concatenated into the blob, and nothing of the session is left
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
    assert!(matches!(
        store.upload_status(up.id).await,
        Err(BlobError::UploadNotFound)
    ));
    assert_eq!(
        std::fs::read_dir(dir.path().join("uploads"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn digest_mismatch_commits_nothing_and_discards_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let bytes = data(1000);
    let wrong = Digest::of(b"something else");
    let up = store.start_upload("acme", "x").await.unwrap();
    store
        .append(up.id, Some(0), stream::iter(chunks(&bytes, 100)))
        .await
        .unwrap();
    let err = store.finish(up.id, &wrong).await.unwrap_err();
    match err {
        BlobError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, Digest::of(&bytes));
        }
        other => panic!("{other}"),
    }
    assert_eq!(store.stat("acme", &wrong).await.unwrap(), None);
    assert_eq!(store.stat("acme", &Digest::of(&bytes)).await.unwrap(), None);
    assert!(matches!(
        store.upload_status(up.id).await,
        Err(BlobError::UploadNotFound)
    ));
}

#[tokio::test]
async fn dropped_connection_keeps_received_bytes_and_resumes_on_another_instance() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let bytes = data(30_000);
    let d = Digest::of(&bytes);
    let up = store.start_upload("acme", "x").await.unwrap();
    // 12,000 bytes arrive, then the connection drops
    let broken = stream::iter(chunks(&bytes[..12_000], 3000))
        .chain(stream::iter(vec![Err(std::io::Error::other("connection reset"))]));
    let err = store.append(up.id, Some(0), broken).await.unwrap_err();
    assert!(matches!(err, BlobError::Body(_)), "{err}");
    // a second server sharing the same storage sees the progress and finishes the upload
    let other = BlobStore::local(dir.path()).unwrap();
    let (_, offset) = other.upload_status(up.id).await.unwrap();
    assert_eq!(offset, 12_000);
    other
        .append(up.id, Some(offset), stream::iter(chunks(&bytes[12_000..], 5000)))
        .await
        .unwrap();
    let (_, size) = other.finish(up.id, &d).await.unwrap();
    assert_eq!(size, 30_000);
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
}

#[tokio::test]
async fn empty_blob_and_missing_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let d = Digest::of(b"");
    store.put("acme", &d, stream::iter(Vec::<Chunk>::new())).await.unwrap();
    assert_eq!(store.stat("acme", &d).await.unwrap(), Some(0));
    assert!(matches!(
        store.get("acme", &Digest::of(b"nope"), None).await,
        Err(BlobError::NotFound)
    ));
}

/// What a crash mid-write leaves on a local store: a 0-byte staging file (`name#N`), which
/// object listings never show. Finishing the session and a stale-session sweep remove it.
#[tokio::test]
async fn staging_files_left_by_a_crash_go_with_their_session_and_with_gc() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let bytes = data(1000);
    let d = Digest::of(&bytes);

    // A session with one part and a staging file from a PATCH cut off by a crash.
    let info = store.start_upload("acme", "r").await.unwrap();
    store
        .append(info.id, Some(0), stream::iter(chunks(&bytes, 300)))
        .await
        .unwrap();
    let session_dir = dir.path().join("uploads").join(info.id.to_string());
    std::fs::write(session_dir.join("part-00000000000000001000#7"), b"").unwrap();
    assert_eq!(
        store.upload_status(info.id).await.unwrap().1,
        1000,
        "the staging file is not a part"
    );
    store.finish(info.id, &d).await.unwrap();
    assert!(
        !session_dir.exists(),
        "finishing removes the session with its staging files"
    );
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);

    // A session that holds nothing but a staging file (the crash came before any part).
    let orphan = uuid::Uuid::new_v4();
    let orphan_dir = dir.path().join("uploads").join(orphan.to_string());
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("part-00000000000000000000#1"), b"").unwrap();
    let sessions = store.list_uploads().await.unwrap();
    assert_eq!(sessions.iter().map(|s| s.0).collect::<Vec<_>>(), vec![orphan]);
    store.discard(orphan).await.unwrap();
    assert!(!orphan_dir.exists());

    // A blob commit cut off by a crash.
    let staging = dir
        .path()
        .join("blobs/acme/sha256/ab")
        .join(format!("{}#3", "ab".repeat(32)));
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    std::fs::write(&staging, b"").unwrap();
    let future = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(
        store
            .sweep_staging(chrono::Utc::now() - chrono::Duration::hours(1), false)
            .await
            .unwrap(),
        0,
        "too young"
    );
    assert_eq!(store.sweep_staging(future, true).await.unwrap(), 1, "dry run counts");
    assert!(staging.exists());
    assert_eq!(store.sweep_staging(future, false).await.unwrap(), 1);
    assert!(!staging.exists());
    assert_eq!(
        read_all(&store, "acme", &d, None).await,
        bytes,
        "committed blobs are untouched"
    );
}

/// Sends part `number` of upload `id` (its length declared, as S3 clients do).
async fn part(store: &BlobStore, id: uuid::Uuid, number: u32, bytes: &[u8]) -> String {
    store
        .put_numbered_part(
            id,
            number,
            Some(bytes.len() as u64),
            None,
            stream::iter(chunks(bytes, 3000)),
        )
        .await
        .unwrap()
        .0
}

/// (parts in the upload's slab, parts kept as files of their own)
fn kept(dir: &std::path::Path, id: uuid::Uuid) -> (usize, usize) {
    let names: Vec<String> = std::fs::read_dir(dir.join("uploads").join(id.to_string()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |p: &str| names.iter().filter(|n| n.starts_with(p)).count();
    (count("spart-"), count("npart-"))
}

fn uploads_left(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("uploads")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn multipart_parts_in_any_order_complete_to_the_exact_bytes() {
    // In order (all in the slab), part 2 before part 1 (kept apart, copied at completion),
    // and a first part of another size (the slab's layout does not fit: parts concatenated).
    let bytes = data(100_000);
    let d = Digest::of(&bytes);
    for order in [vec![1u32, 2, 3, 4], vec![2, 1, 4, 3], vec![4, 3, 2, 1]] {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let up = store.start_upload("acme", "").await.unwrap();
        let slices = [
            &bytes[..30_000],
            &bytes[30_000..60_000],
            &bytes[60_000..90_000],
            &bytes[90_000..],
        ];
        let mut etags = std::collections::BTreeMap::new();
        for n in &order {
            etags.insert(*n, part(&store, up.id, *n, slices[*n as usize - 1]).await);
        }
        // Parts sent after part 1 are written into the slab; those before it are apart.
        let apart = order.iter().position(|n| *n == 1).unwrap();
        assert_eq!(kept(dir.path(), up.id), (order.len() - apart, apart), "{order:?}");
        let named: Vec<(u32, String)> = etags.into_iter().collect();
        assert_eq!(
            store.complete_numbered(up.id, &named, &d, 1).await.unwrap(),
            100_000,
            "{order:?}"
        );
        assert_eq!(read_all(&store, "acme", &d, None).await, bytes, "{order:?}");
        assert_eq!(uploads_left(dir.path()), 0, "{order:?}");
    }
    // Unequal parts: the first sent is 10,000 bytes, so parts 2.. do not fit the slab.
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let up = store.start_upload("acme", "").await.unwrap();
    let e1 = part(&store, up.id, 1, &bytes[..10_000]).await;
    let e2 = part(&store, up.id, 2, &bytes[10_000..70_000]).await;
    let e3 = part(&store, up.id, 3, &bytes[70_000..]).await;
    let named = vec![(1, e1), (2, e2), (3, e3)];
    assert_eq!(store.complete_numbered(up.id, &named, &d, 1).await.unwrap(), 100_000);
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
}

#[tokio::test]
async fn multipart_part_sent_again_is_kept_by_etag() {
    let bytes = data(60_000);
    let d = Digest::of(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let up = store.start_upload("acme", "").await.unwrap();
    let e1 = part(&store, up.id, 1, &bytes[..30_000]).await;
    let wrong = part(&store, up.id, 2, &vec![7u8; 30_000]).await;
    let right = part(&store, up.id, 2, &bytes[30_000..]).await;
    assert_ne!(wrong, right);
    // Naming the first upload of part 2: its bytes, so the digest does not match.
    let err = store
        .complete_numbered(up.id, &[(1, e1.clone()), (2, wrong.clone())], &d, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::DigestMismatch { .. }), "{err}");
    assert_eq!(store.stat("acme", &d).await.unwrap(), None);
    // The failed completion keeps the session: naming the second upload completes it.
    assert_eq!(
        store
            .complete_numbered(up.id, &[(1, e1), (2, right)], &d, 1)
            .await
            .unwrap(),
        60_000
    );
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
    assert_eq!(uploads_left(dir.path()), 0);
}

#[tokio::test]
async fn multipart_parts_survive_a_restart_and_bad_parts_keep_nothing() {
    let bytes = data(90_000);
    let d = Digest::of(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let up = store.start_upload("acme", "").await.unwrap();
    let e1 = part(&store, up.id, 1, &bytes[..30_000]).await;
    let e2 = part(&store, up.id, 2, &bytes[30_000..60_000]).await;
    // A body shorter than declared, and one longer: refused, nothing kept of them.
    let short = store
        .put_numbered_part(
            up.id,
            3,
            Some(30_001),
            None,
            stream::iter(chunks(&bytes[60_000..], 3000)),
        )
        .await
        .unwrap_err();
    assert!(matches!(short, BlobError::Body(_)), "{short}");
    let long = store
        .put_numbered_part(
            up.id,
            3,
            Some(29_999),
            None,
            stream::iter(chunks(&bytes[60_000..], 3000)),
        )
        .await
        .unwrap_err();
    assert!(matches!(long, BlobError::Body(_)), "{long}");
    // A new process: what the first wrote is found from the store alone.
    drop(store);
    let store = BlobStore::local(dir.path()).unwrap();
    let e3 = part(&store, up.id, 3, &bytes[60_000..]).await;
    let named = vec![(1, e1), (2, e2.clone()), (3, e3.clone())];
    let unknown = store
        .complete_numbered(up.id, &[(1, "0".repeat(32)), (2, e2), (3, e3)], &d, 1)
        .await
        .unwrap_err();
    assert!(matches!(unknown, BlobError::InvalidPart(_)), "{unknown}");
    assert_eq!(store.complete_numbered(up.id, &named, &d, 1).await.unwrap(), 90_000);
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
    assert_eq!(uploads_left(dir.path()), 0);
}

#[tokio::test]
async fn multipart_running_hash_follows_parts_as_they_stream() {
    // Part 2 starts streaming before part 1 and finishes after it: once part 1 is in, part 2
    // takes the running hash midway (reading back what it already wrote) and the completion
    // finds every byte hashed, in order.
    const MIB: usize = 1 << 20;
    let bytes = data(11 * MIB);
    let d = Digest::of(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let up = store.start_upload("acme", "").await.unwrap();
    let (p1, p2, p3) = (&bytes[..5 * MIB], &bytes[5 * MIB..10 * MIB], &bytes[10 * MIB..]);

    // One chunk in the channel at a time: a send returns once the previous chunk was taken.
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(1);
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let writer = {
        let store = store.clone();
        let len = p2.len() as u64;
        tokio::spawn(async move { store.put_numbered_part(up.id, 2, Some(len), None, body).await })
    };
    let mut chunks = chunks(p2, 256 * 1024).into_iter();
    for c in chunks.by_ref().take(19) {
        tx.send(c).await.unwrap(); // 4.75 MiB taken: one block written, unhashed
    }
    let e1 = part(&store, up.id, 1, p1).await;
    assert_eq!(store.hashed_parts(up.id), 1);
    for c in chunks {
        tx.send(c).await.unwrap();
    }
    drop(tx);
    let (e2, size) = writer.await.unwrap().unwrap();
    assert_eq!(size, p2.len() as u64);
    assert_eq!(store.hashed_parts(up.id), 2);
    let e3 = part(&store, up.id, 3, p3).await;
    assert_eq!(store.hashed_parts(up.id), 3);
    let named = vec![(1, e1), (2, e2), (3, e3)];
    assert_eq!(
        store.complete_numbered(up.id, &named, &d, 1).await.unwrap(),
        bytes.len() as u64
    );
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
}

#[tokio::test]
async fn local_reads_cross_chunk_boundaries_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let bytes = data(5 * (1 << 20) + 123);
    let d = Digest::of(&bytes);
    store
        .put("acme", &d, stream::iter(chunks(&bytes, 1 << 20)))
        .await
        .unwrap();
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
    for r in [
        0..1,
        (2 << 20) - 3..(4 << 20) + 7,
        4095..4097,
        (5 << 20)..bytes.len() as u64,
    ] {
        let (a, b) = (r.start as usize, r.end as usize);
        assert_eq!(read_all(&store, "acme", &d, Some(r)).await, &bytes[a..b]);
    }
    // an empty blob streams nothing
    let empty = Digest::of(b"");
    assert_eq!(
        store
            .put("acme", &empty, stream::iter(Vec::<Chunk>::new()))
            .await
            .unwrap(),
        0
    );
    assert_eq!(read_all(&store, "acme", &empty, None).await, b"");
}
