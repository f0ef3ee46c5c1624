//! The `tracing` layer allocates nothing after warm-up for events with
//! fields (collected into thread-local buffers): counted by a global
//! allocator that counts on the measuring thread only. Its own process:
//! see log_no_alloc.rs for why.
//!
//! No writer runs: the calls made fit in one lane.

use ul_benches::alloc_count::{allocations, attach_private_region, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn tracing_layer_allocates_nothing_after_warm_up() {
    use tracing_subscriber::layer::SubscriberExt;
    let _cleanup = attach_private_region("tracing-alloc-test");
    let subscriber = tracing_subscriber::registry().with(ul::tracing_layer::UlLayer::new());
    let events = |n: u64| {
        for i in 0..n {
            tracing::info!(i, user = "ann", ratio = 0.5, "three fields");
            tracing::warn!(error = ?Some(i), "debug-formatted field");
        }
    };
    tracing::subscriber::with_default(subscriber, || {
        events(10);
        let n = allocations(|| events(2_000));
        assert_eq!(
            n, 0,
            "the tracing layer allocated {n} times in 4,000 events"
        );
    });
}
