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
    assert_eq!(store.stat("acme", &d).await.unwrap(), None, "not visible before finish");
    let (info, size) = store.finish(up.id, &d).await.unwrap();
    assert_eq!((info.repo.as_str(), size), ("mnist", 50_000));
    assert_eq!(read_all(&store, "acme", &d, None).await, bytes);
    assert!(matches!(
        store.upload_status(up.id).await,
        Err(BlobError::UploadNotFound)
    ));
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
