//! Rendezvous (highest-random-weight) placement of actors over the live members.
//!
//! Every member scores every actor as `xxh3(node || actor)`; the highest score owns it. Every
//! node computes the same owner from the same member list, without talking to the others, and
//! when a member joins or leaves only the actors it wins or held move: about 1/N of them.
//!
//! The hash is xxh3 with a fixed seed, whose output is specified and stable across Rust and
//! crate versions, so nodes running different builds still agree.

use troupe_runtime::ActorId;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The name of a cluster member, as given by `--node-name`.
pub type NodeId = String;

const SEED: u64 = 0x7472_6f75_7065_0001; // "troupe", v1

/// The score of `node` for `actor`. Fields are length-prefixed so that `("ab", "c")` and
/// `("a", "bc")` cannot collide.
pub fn score(node: &str, actor: &ActorId) -> u64 {
    let mut buf = Vec::with_capacity(node.len() + actor.kind.len() + actor.key.len() + 12);
    for part in [node, actor.kind.as_str(), actor.key.as_str()] {
        buf.extend_from_slice(&(part.len() as u32).to_le_bytes());
        buf.extend_from_slice(part.as_bytes());
    }
    xxh3_64_with_seed(&buf, SEED)
}

/// The member that owns `actor`, or `None` if there are no members. Ties (practically
/// impossible) go to the smaller node name, so the answer never depends on list order.
pub fn owner<'a>(actor: &ActorId, members: &'a [NodeId]) -> Option<&'a NodeId> {
    members
        .iter()
        .max_by(|a, b| score(a, actor).cmp(&score(b, actor)).then_with(|| b.cmp(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn nodes(n: usize) -> Vec<NodeId> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    fn actors(n: usize) -> Vec<ActorId> {
        (0..n)
            .map(|i| ActorId::new("user", format!("u{i}")))
            .collect()
    }

    #[test]
    fn there_is_no_owner_without_members() {
        assert_eq!(owner(&ActorId::new("user", "a"), &[]), None);
    }

    #[test]
    fn the_owner_does_not_depend_on_member_order() {
        let mut m = nodes(5);
        for a in actors(500) {
            let first = owner(&a, &m).unwrap().clone();
            m.reverse();
            assert_eq!(owner(&a, &m).unwrap(), &first);
            m.rotate_left(2);
            assert_eq!(owner(&a, &m).unwrap(), &first);
        }
    }

    #[test]
    fn actors_spread_evenly() {
        let m = nodes(3);
        let mut count: HashMap<&NodeId, usize> = HashMap::new();
        let all = actors(30_000);
        for a in &all {
            *count.entry(owner(a, &m).unwrap()).or_default() += 1;
        }
        for (node, c) in count {
            let share = c as f64 / all.len() as f64;
            assert!((share - 1.0 / 3.0).abs() < 0.02, "{node} got {share:.3}");
        }
    }

    #[test]
    fn a_joining_node_takes_about_one_nth_and_nothing_else_moves() {
        let before = nodes(3);
        let after = nodes(4);
        let all = actors(20_000);
        let mut moved = 0;
        for a in &all {
            let (o1, o2) = (owner(a, &before).unwrap(), owner(a, &after).unwrap());
            if o1 != o2 {
                assert_eq!(o2, "node-3", "an actor moved between two old nodes");
                moved += 1;
            }
        }
        let share = moved as f64 / all.len() as f64;
        assert!((share - 0.25).abs() < 0.02, "moved {share:.3}");
    }

    #[test]
    fn a_leaving_node_gives_up_only_its_own_actors() {
        let before = nodes(4);
        let after: Vec<NodeId> = before.iter().filter(|n| *n != "node-1").cloned().collect();
        for a in actors(10_000) {
            let o1 = owner(&a, &before).unwrap();
            if o1 != "node-1" {
                assert_eq!(owner(&a, &after).unwrap(), o1);
            }
        }
    }

    #[test]
    fn the_kind_is_part_of_the_address() {
        let m = nodes(16);
        let differ = (0..200)
            .filter(|i| {
                let k = format!("k{i}");
                owner(&ActorId::new("user", &k), &m) != owner(&ActorId::new("video", &k), &m)
            })
            .count();
        assert!(differ > 150);
    }

    #[test]
    fn scores_are_stable_across_builds() {
        // A golden value: if this changes, nodes of different versions disagree on owners.
        assert_eq!(score("node-0", &ActorId::new("user", "alice")), GOLDEN);
    }

    const GOLDEN: u64 = 911_931_755_029_046_353;
}
