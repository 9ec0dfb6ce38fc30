//! Identity resolution's quality on 10,000 generated people (originals with one to five
//! corrupted duplicates each, and two files to link), against the generator's ground truth.
//! The model is learned without labels; links are made at its auto-link threshold. Target:
//! precision at least 0.99 and F1 at least 0.95. The 1,000,000-record run is a bench
//! (`docs/TESTING.md`).

use crm_testkit::linkage_quality::{RunSettings, deduplicate, link};
use crm_testkit::people::{GeneratorSettings, LinkageSettings, generate, generate_linkage};

#[test]
fn deduplicating_ten_thousand_generated_people_meets_the_quality_target() {
    let people = generate(&GeneratorSettings::dedup(10_000, 7));
    let report = deduplicate(&people, &RunSettings::default());
    println!("{}", report.summary());
    assert!(
        report.blocking.pair_completeness >= 0.97,
        "{}",
        report.summary()
    );
    assert!(
        report.at_auto_link.precision >= 0.99,
        "{}",
        report.summary()
    );
    assert!(report.at_auto_link.f1 >= 0.95, "{}", report.summary());
}

#[test]
fn linking_two_files_of_generated_people_meets_the_quality_target() {
    let files = generate_linkage(&LinkageSettings::linkage(5_000, 5_000, 11));
    let report = link(&files.left, &files.right, &RunSettings::default());
    println!("{}", report.summary());
    assert!(
        report.blocking.pair_completeness >= 0.97,
        "{}",
        report.summary()
    );
    assert!(
        report.at_auto_link.precision >= 0.99,
        "{}",
        report.summary()
    );
    assert!(report.at_auto_link.f1 >= 0.95, "{}", report.summary());
}
