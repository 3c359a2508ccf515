//! What the run created and deleted, to read back at the end; and the
//! clients' random choices, the same in every run.

use std::collections::HashMap;

use crate::api::User;

/// A small deterministic random number generator (SplitMix64): the same
/// client picks the same requests in every run.
#[derive(Debug)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Whether a resource was deleted by a request of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deleted {
    No,
    /// A delete was answered 204, or 404 (already gone).
    Yes,
    /// A delete got no definite answer: it may have happened.
    Maybe,
}

impl Deleted {
    pub(super) fn after(self, answer: Option<u16>) -> Self {
        match (self, answer) {
            (_, Some(204 | 404)) | (Self::Yes, _) => Self::Yes,
            (_, Some(503) | None) => Self::Maybe,
            (state, _) => state,
        }
    }
}

#[derive(Debug)]
pub(super) struct PostRecord {
    pub(super) id: String,
    /// Index into the ledger's users.
    pub(super) owner: usize,
    /// The titles it may have now: the last edit answered 200, and any
    /// later edit left without an answer.
    pub(super) titles: Vec<String>,
    pub(super) deleted: Deleted,
}

#[derive(Debug)]
pub(super) struct CommentRecord {
    pub(super) id: String,
    /// Index into the ledger's posts.
    pub(super) post: usize,
    pub(super) owner: usize,
    pub(super) bodies: Vec<String>,
    pub(super) deleted: Deleted,
}

/// What the run created and deleted, to check at the end.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// Logged-in users: client `c` acts for users `c * 3 .. c * 3 + 3`.
    pub(super) users: Vec<User>,
    /// Ids of users signed up during the run.
    pub(super) signed_up: Vec<String>,
    pub(super) posts: Vec<PostRecord>,
    pub(super) comments: Vec<CommentRecord>,
    /// Per user: their posts, and the comments they may delete (their own
    /// and those on their posts).
    pub(super) posts_of: HashMap<usize, Vec<usize>>,
    pub(super) comments_of: HashMap<usize, Vec<usize>>,
    pub(super) deletable_comments_of: HashMap<usize, Vec<usize>>,
}

impl Ledger {
    pub(super) fn add_post(&mut self, id: String, owner: usize, title: String) -> usize {
        let index = self.posts.len();
        self.posts.push(PostRecord {
            id,
            owner,
            titles: vec![title],
            deleted: Deleted::No,
        });
        self.posts_of.entry(owner).or_default().push(index);
        index
    }

    pub(super) fn add_comment(&mut self, id: String, post: usize, owner: usize, body: String) {
        let index = self.comments.len();
        let post_owner = self.posts[post].owner;
        self.comments.push(CommentRecord {
            id,
            post,
            owner,
            bodies: vec![body],
            deleted: Deleted::No,
        });
        self.comments_of.entry(owner).or_default().push(index);
        self.deletable_comments_of
            .entry(owner)
            .or_default()
            .push(index);
        if post_owner != owner {
            self.deletable_comments_of
                .entry(post_owner)
                .or_default()
                .push(index);
        }
    }

    /// A random entry of `list` that is not known to be deleted (a few
    /// tries), or any.
    pub(super) fn pick_live(
        list: Option<&Vec<usize>>,
        live: impl Fn(usize) -> bool,
        rng: &mut Rng,
    ) -> Option<usize> {
        let list = list.filter(|l| !l.is_empty())?;
        let mut choice = list[rng.below(list.len())];
        for _ in 0..8 {
            if live(choice) {
                break;
            }
            choice = list[rng.below(list.len())];
        }
        Some(choice)
    }

    /// A post id to read: half the time one of the 20 newest (reads are
    /// skewed to what is new), else any.
    pub(super) fn post_to_read(&self, rng: &mut Rng) -> String {
        let n = self.posts.len();
        let index = if rng.below(2) == 0 {
            n - 1 - rng.below(n.min(20))
        } else {
            rng.below(n)
        };
        self.posts[index].id.clone()
    }

    pub(super) fn user_to_read(&self, rng: &mut Rng) -> String {
        let all = self.users.len() + self.signed_up.len();
        let pick = rng.below(all);
        match self.users.get(pick) {
            Some(user) => user.id.clone(),
            None => self.signed_up[pick - self.users.len()].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_counts_once_it_is_answered_and_may_count_if_it_is_not() {
        assert_eq!(Deleted::No.after(Some(204)), Deleted::Yes);
        assert_eq!(Deleted::No.after(Some(404)), Deleted::Yes);
        assert_eq!(Deleted::No.after(Some(503)), Deleted::Maybe);
        assert_eq!(Deleted::No.after(None), Deleted::Maybe);
        assert_eq!(Deleted::Maybe.after(Some(204)), Deleted::Yes);
        assert_eq!(Deleted::Yes.after(Some(503)), Deleted::Yes);
        assert_eq!(Deleted::No.after(Some(403)), Deleted::No);
    }

    #[test]
    fn the_random_numbers_repeat_per_seed_and_stay_below_the_bound() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let picks: Vec<usize> = (0..100).map(|_| a.below(10)).collect();
        assert_eq!(picks, (0..100).map(|_| b.below(10)).collect::<Vec<_>>());
        assert!(picks.iter().all(|n| *n < 10));
        assert!((0..10).all(|n| picks.contains(&n)));
    }
}
