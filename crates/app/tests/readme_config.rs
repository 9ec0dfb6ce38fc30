//! The configuration the README shows is configuration the binaries take: the `host.json` of
//! an ERP endpoint reads as a `HostConfig`, and the data dictionary validates.

use crm_app::host::HostConfig;
use crm_domain::sync::DataDictionary;

/// The JSON block that follows `marker` in the README.
fn block_after(marker: &str) -> String {
    let readme = include_str!("../../../README.md");
    let after = readme
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("the README has {marker}"));
    let opened = after
        .split("```json\n")
        .nth(1)
        .expect("a json block follows the marker");
    opened
        .split("\n```")
        .next()
        .expect("the block closes")
        .to_owned()
}

#[test]
fn the_readmes_host_config_names_an_erp_endpoint() {
    let config: HostConfig = serde_json::from_str(&block_after("<!-- host-config -->"))
        .expect("the README's host.json reads");
    assert!(
        config
            .destinations
            .get("erp")
            .is_some_and(|url| url.starts_with("http://"))
    );
    assert_eq!(config.erasure_notices, ["erp"]);
    assert!(config.sync_alerts.is_some(), "the alert hook is shown");
    assert!(config.onboarding, "won deals send their ERP message");
}

#[test]
fn the_readmes_data_dictionary_validates() {
    let dictionary: DataDictionary = serde_json::from_str(&block_after("<!-- data-dictionary -->"))
        .expect("the README's dictionary reads");
    let rules = dictionary.validate().expect("and can be enforced");
    assert_eq!(rules.entries().count(), 4);
    assert!(rules.names_system("billing"));
    assert_eq!(
        rules.owner_of(crm_domain::account::AccountField::Addresses),
        Some("erp")
    );
}
