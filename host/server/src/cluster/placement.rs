//! Where each history shard lives: rendezvous (highest-random-weight) hashing over the live
//! nodes that run the history service.
//!
//! Every node computes the same owner from the same membership view, with no coordination:
//! the owner of a key is the node whose hash of (node name, key) is highest. When a node
//! joins or leaves, only the keys it wins or held move (about 1/N of them), and a node that
//! restarts under its name wins back the same keys.

/// The pinned hash: FNV-1a over the bytes, then a SplitMix64 finalizer so that close inputs
/// (node names differing in one digit, consecutive shard ids) spread over all 64 bits. It
/// must never change: nodes of different versions must agree on owners.
fn weight(node_name: &str, key: u64) -> u64 {
    hash(node_name.bytes().chain([0u8]).chain(key.to_le_bytes()))
}

fn hash(bytes: impl Iterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The placement key of a task queue (kind 1: workflow, 2: activity).
pub fn queue_key(namespace_id: &str, queue: &str, kind: i32) -> u64 {
    hash(
        namespace_id
            .bytes()
            .chain([0u8])
            .chain(queue.bytes())
            .chain([0u8])
            .chain(kind.to_le_bytes()),
    )
}

/// The owner of `key` among `nodes` (by name); none when `nodes` is empty.
pub fn owner<'a>(key: u64, nodes: &[&'a str]) -> Option<&'a str> {
    nodes.iter().copied().max_by_key(|n| (weight(n, key), *n))
}

/// The shards of `0..count` that `me` owns among `nodes`.
pub fn shards_of(me: &str, count: i32, nodes: &[&str]) -> Vec<i32> {
    (0..count)
        .filter(|s| owner(*s as u64, nodes) == Some(me))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_has_one_owner_and_the_split_is_even() {
        let nodes = ["n1", "n2", "n3"];
        let counts: Vec<usize> = nodes
            .iter()
            .map(|n| shards_of(n, 512, &nodes).len())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 512);
        for c in &counts {
            // ±√(S/N)·3 around S/N.
            assert!((130..=210).contains(c), "{counts:?}");
        }
    }

    #[test]
    fn a_joining_node_takes_about_a_quarter_and_nothing_else_moves() {
        let before = ["n1", "n2", "n3"];
        let after = ["n1", "n2", "n3", "n4"];
        let mut moved = 0;
        for s in 0..1024u64 {
            let (a, b) = (owner(s, &before).unwrap(), owner(s, &after).unwrap());
            if a != b {
                assert_eq!(b, "n4", "shard {s} moved between old nodes");
                moved += 1;
            }
        }
        assert!((200..=312).contains(&moved), "{moved} of 1024 moved");
    }

    #[test]
    fn owners_do_not_depend_on_the_order_of_the_view() {
        for s in 0..64 {
            assert_eq!(owner(s, &["a", "b", "c"]), owner(s, &["c", "a", "b"]));
        }
        assert_eq!(owner(1, &[]), None);
    }

    #[test]
    fn the_hash_is_pinned() {
        // Nodes of different versions must agree: this value never changes.
        assert_eq!(weight("n1", 7), weight("n1", 7));
        assert_eq!(owner(0, &["n1", "n2", "n3"]), owner(0, &["n3", "n2", "n1"]));
        let pinned: Vec<_> = (0..8)
            .map(|s| owner(s, &["n1", "n2", "n3"]).unwrap())
            .collect();
        assert_eq!(pinned, PINNED);
    }

    const PINNED: [&str; 8] = ["n1", "n1", "n2", "n2", "n1", "n2", "n1", "n3"];
}
