//! Numbers in the sentences plugboard prints: `1 job`, `2 jobs`.

/// `count` and `noun`, the noun plural unless the count is one (`count(1, "attempt")` is
/// `1 attempt`). Every noun plugboard counts takes an `s`.
pub fn count(count: impl Into<u64>, noun: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_the_rest_plural() {
        assert_eq!(count(0u32, "job"), "0 jobs");
        assert_eq!(count(1u32, "job"), "1 job");
        assert_eq!(count(2u64, "UI page"), "2 UI pages");
    }
}
