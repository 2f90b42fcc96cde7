//! The shard controller's figures, as Temporal's history service reports them (operation
//! `ShardController`): `numshards_gauge` (shards this node owns), `sharditem_created_count`
//! and `sharditem_removed_count` (shards taken and given up), `shard_closed_count` (shards
//! found taken by another node) and `membership_changed_count`.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

const LABELS: [&str; 2] = ["operation", "service_name"];
const VALUES: [&str; 2] = ["ShardController", "history"];

pub(crate) struct ShardMetrics {
    pub owned: IntGauge,
    pub created: IntCounter,
    pub removed: IntCounter,
    pub closed: IntCounter,
    pub membership_changed: IntCounter,
    families: (IntGaugeVec, Vec<IntCounterVec>),
}

impl Default for ShardMetrics {
    fn default() -> Self {
        let counter = |name: &str| {
            IntCounterVec::new(Opts::new(name, format!("{name} counter")), &LABELS)
                .expect("valid metric")
        };
        let gauge = IntGaugeVec::new(
            Opts::new("numshards_gauge", "History shards this node owns."),
            &LABELS,
        )
        .expect("valid metric");
        let counters: Vec<IntCounterVec> = [
            "sharditem_created_count",
            "sharditem_removed_count",
            "shard_closed_count",
            "membership_changed_count",
        ]
        .into_iter()
        .map(counter)
        .collect();
        let of = |i: usize| counters[i].with_label_values(&VALUES);
        ShardMetrics {
            owned: gauge.with_label_values(&VALUES),
            created: of(0),
            removed: of(1),
            closed: of(2),
            membership_changed: of(3),
            families: (gauge.clone(), counters.clone()),
        }
    }
}

impl ShardMetrics {
    pub(crate) fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.families.0.clone()))?;
        for c in &self.families.1 {
            registry.register(Box::new(c.clone()))?;
        }
        Ok(())
    }
}
