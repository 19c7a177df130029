//! Blob upload throughput: hash + stage + verify + commit through the local store.
//! `cargo bench -p granary-blob` (see docs/BENCHMARKS.md).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::stream;
use granary_blob::BlobStore;
use granary_core::Digest;

fn upload(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let size = 256usize << 20;
    let data: Vec<Bytes> = (0..size / (1 << 20))
        .map(|i| Bytes::from(vec![(i % 251) as u8; 1 << 20]))
        .collect();
    let digest = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        data.iter().for_each(|c| h.update(c));
        Digest::from_hasher(h)
    };
    let mut group = c.benchmark_group("blob_upload");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);
    group.bench_function("local_256MiB_1MiB_chunks", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = BlobStore::local(dir.path()).unwrap();
            let body = stream::iter(data.iter().cloned().map(Ok::<_, std::io::Error>));
            rt.block_on(store.put("bench", &digest, body)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, upload);
criterion_main!(benches);
