//! Helpers shared by the unit tests of several modules.

/// The number of cases a property test runs: `ci` unless `PROPTEST_CASES` asks for another
/// number. proptest reads that variable only when a test keeps its default count, and every
/// test here sets a count small enough for CI, so the override is restored by hand.
pub(crate) fn proptest_cases(ci: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|raw| raw.trim().parse().ok())
        .unwrap_or(ci)
}
