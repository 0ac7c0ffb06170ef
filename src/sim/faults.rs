//! Faults armed for numbered requests, so that a test can say "the 10th PATCH from now on and
//! every later one" without a timing window between two requests.

use std::ops::RangeInclusive;

/// Faults armed for ranges of request numbers of one kind (repository PATCHes, config PUTs,
/// ...). The caller counts the requests; numbers are absolute (1 = the first request since the
/// start), while [`NumberedFaults::arm`] takes them relative to the requests seen so far.
#[derive(Debug)]
pub(crate) struct NumberedFaults<T> {
    armed: Vec<(RangeInclusive<usize>, T)>,
}

impl<T> Default for NumberedFaults<T> {
    fn default() -> Self {
        NumberedFaults { armed: Vec::new() }
    }
}

impl<T: Clone> NumberedFaults<T> {
    /// Arms `value` for the requests numbered `from ..= from + count - 1`, counting from 1 at
    /// the first request after the `seen` ones (`from` 0 is taken as 1). `count` `usize::MAX`
    /// means every request from `from` on; 0 arms nothing. Earlier arming stays; where ranges
    /// overlap, the one armed first applies.
    pub(crate) fn arm(&mut self, seen: usize, from: usize, count: usize, value: T) {
        if count == 0 {
            return;
        }
        let first = seen.saturating_add(from.max(1));
        let last = first.saturating_add(count - 1);
        self.armed.push((first..=last, value));
    }

    /// The fault armed for request number `number` (absolute), if any. Requests are taken in
    /// increasing order: ranges that end before `number` are forgotten.
    pub(crate) fn take(&mut self, number: usize) -> Option<T> {
        self.armed.retain(|(range, _)| *range.end() >= number);
        self.armed
            .iter()
            .find(|(range, _)| range.contains(&number))
            .map(|(_, value)| value.clone())
    }

    /// Disarms everything.
    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::NumberedFaults;

    fn hits(
        faults: &mut NumberedFaults<u16>,
        numbers: std::ops::RangeInclusive<usize>,
    ) -> Vec<(usize, u16)> {
        numbers
            .filter_map(|n| faults.take(n).map(|value| (n, value)))
            .collect()
    }

    #[test]
    fn ranges_count_from_the_next_request() {
        let mut faults = NumberedFaults::default();
        faults.arm(5, 2, 3, 500);
        assert_eq!(hits(&mut faults, 6..=12), [(7, 500), (8, 500), (9, 500)]);
        // Spent ranges are forgotten.
        assert!(faults.armed.is_empty());
    }

    #[test]
    fn zero_is_one_and_count_zero_arms_nothing() {
        let mut faults = NumberedFaults::default();
        faults.arm(0, 0, 1, 503);
        faults.arm(0, 3, 0, 500);
        assert_eq!(hits(&mut faults, 1..=5), [(1, 503)]);
    }

    #[test]
    fn unbounded_count_and_overlaps() {
        let mut faults = NumberedFaults::default();
        faults.arm(10, 3, usize::MAX, 500);
        faults.arm(10, 1, 4, 502);
        assert_eq!(
            hits(&mut faults, 11..=15),
            [(11, 502), (12, 502), (13, 500), (14, 500), (15, 500)]
        );
        assert_eq!(faults.take(usize::MAX), Some(500));
        faults.clear();
        assert_eq!(faults.take(usize::MAX), None);
    }
}
