//! Territory rules: an ordered list of conditions on where a lead is and what company it is
//! from, each pointing at a team. The first rule whose conditions all hold wins.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::decision::RuleMatch;
use super::error::RoutingError;
use crate::identity::CountryCode;
use crate::ids::TeamId;

/// What routing reads about a lead: where it is and what company it is from.
///
/// Every field is optional; a rule that has a condition on a field the lead lacks does not
/// match it (an unknown country is not "any country").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeadAttributes {
    /// The lead's country.
    pub country: Option<CountryCode>,
    /// Region or state, as entered (compared case-insensitively, trimmed).
    pub region: Option<String>,
    /// Postal code, as entered (compared without spaces or punctuation, upper-cased).
    pub postcode: Option<String>,
    /// Industry (compared case-insensitively, trimmed).
    pub industry: Option<String>,
    /// Number of employees of the lead's company.
    pub company_size: Option<u32>,
}

/// An inclusive range of company sizes (employees): `min..=max`, or `min..` without a max.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanySizeRange {
    /// The smallest size in the range.
    pub min: u32,
    /// The largest size in the range, or `None` for no upper bound.
    pub max: Option<u32>,
}

impl CompanySizeRange {
    /// Whether `size` lies in the range (both ends inclusive).
    pub fn contains(&self, size: u32) -> bool {
        size >= self.min && self.max.is_none_or(|max| size <= max)
    }

    /// Whether the range holds no size at all (`min > max`): a configuration mistake.
    pub fn is_empty(&self) -> bool {
        self.max.is_some_and(|max| self.min > max)
    }
}

/// The conditions of a territory rule. All non-empty conditions must hold; within one
/// condition any listed value matches. A rule with no conditions matches every lead, which
/// makes a catch-all last rule possible.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TerritoryConditions {
    /// The lead's country is one of these (empty: any country, or none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<CountryCode>,
    /// The lead's region is one of these, case-insensitively (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// The lead's postcode starts with one of these, ignoring spaces, punctuation and case
    /// (`"SW1"` matches `"sw1a 1aa"`; empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postcode_prefixes: Vec<String>,
    /// The lead's industry is one of these, case-insensitively (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
    /// The lead's company size lies in this range (`None`: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_size: Option<CompanySizeRange>,
}

impl TerritoryConditions {
    /// Whether the lead meets every condition.
    pub fn matches(&self, lead: &LeadAttributes) -> bool {
        let country =
            self.countries.is_empty() || lead.country.is_some_and(|c| self.countries.contains(&c));
        let region = self.regions.is_empty()
            || lead
                .region
                .as_deref()
                .is_some_and(|r| self.regions.iter().any(|want| same_text(want, r)));
        let postcode = self.postcode_prefixes.is_empty()
            || lead.postcode.as_deref().is_some_and(|p| {
                let postcode = postcode_key(p);
                self.postcode_prefixes
                    .iter()
                    .any(|prefix| postcode.starts_with(&postcode_key(prefix)))
            });
        let industry = self.industries.is_empty()
            || lead
                .industry
                .as_deref()
                .is_some_and(|i| self.industries.iter().any(|want| same_text(want, i)));
        let size = self
            .company_size
            .is_none_or(|range| lead.company_size.is_some_and(|s| range.contains(s)));
        country && region && postcode && industry && size
    }

    /// The name of the first condition holding a blank value, which would match nothing (or,
    /// for a postcode prefix, everything) and so cannot be what the author meant.
    fn defect(&self) -> Option<&'static str> {
        if self.regions.iter().any(|r| r.trim().is_empty()) {
            return Some("regions");
        }
        if self
            .postcode_prefixes
            .iter()
            .any(|p| postcode_key(p).is_empty())
        {
            return Some("postcode_prefixes");
        }
        if self.industries.iter().any(|i| i.trim().is_empty()) {
            return Some("industries");
        }
        None
    }
}

/// One territory rule: if a lead meets the conditions, it goes to the team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerritoryRule {
    /// The rule's stable id, recorded in the routing decision.
    pub id: String,
    /// The conditions a lead must meet.
    #[serde(default)]
    pub conditions: TerritoryConditions,
    /// The team that receives matching leads.
    pub team: TeamId,
}

/// The ordered territory rules and the team that takes leads no rule matches.
///
/// Built only through [`Territories::new`], which refuses rules that could never be told apart
/// or never match, so an accepted list routes every lead somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TerritoriesConfig", into = "TerritoriesConfig")]
pub struct Territories {
    rules: Vec<TerritoryRule>,
    fallback_team: TeamId,
}

/// The serialized form of [`Territories`], validated on the way in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TerritoriesConfig {
    rules: Vec<TerritoryRule>,
    fallback_team: TeamId,
}

impl TryFrom<TerritoriesConfig> for Territories {
    type Error = RoutingError;
    fn try_from(config: TerritoriesConfig) -> Result<Self, Self::Error> {
        Self::new(config.rules, config.fallback_team)
    }
}

impl From<Territories> for TerritoriesConfig {
    fn from(territories: Territories) -> Self {
        Self {
            rules: territories.rules,
            fallback_team: territories.fallback_team,
        }
    }
}

impl Territories {
    /// Ordered rules (first match wins) and the fallback team for leads no rule matches.
    ///
    /// Refused: a blank or repeated rule id ([`RoutingError::BlankRuleId`],
    /// [`RoutingError::DuplicateRule`]), a blank region, industry or postcode prefix
    /// ([`RoutingError::BlankCondition`]), a company size range with `min > max`
    /// ([`RoutingError::EmptyCompanySizeRange`]). Whether the teams exist is checked when
    /// routing, against the roster of that moment.
    pub fn new(rules: Vec<TerritoryRule>, fallback_team: TeamId) -> Result<Self, RoutingError> {
        let mut seen = HashSet::new();
        for (position, rule) in rules.iter().enumerate() {
            if rule.id.trim().is_empty() {
                return Err(RoutingError::BlankRuleId { position });
            }
            if !seen.insert(rule.id.as_str()) {
                return Err(RoutingError::DuplicateRule {
                    rule_id: rule.id.clone(),
                });
            }
            if let Some(condition) = rule.conditions.defect() {
                return Err(RoutingError::BlankCondition {
                    rule_id: rule.id.clone(),
                    condition,
                });
            }
            if let Some(range) = rule
                .conditions
                .company_size
                .filter(CompanySizeRange::is_empty)
            {
                return Err(RoutingError::EmptyCompanySizeRange {
                    rule_id: rule.id.clone(),
                    min: range.min,
                    max: range.max.unwrap_or(u32::MAX),
                });
            }
        }
        Ok(Self {
            rules,
            fallback_team,
        })
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[TerritoryRule] {
        &self.rules
    }

    /// The team that takes leads no rule matches.
    pub fn fallback_team(&self) -> TeamId {
        self.fallback_team
    }

    /// The first rule the lead matches, with its position, or `None` when none does.
    pub fn first_match(&self, lead: &LeadAttributes) -> Option<(RuleMatch, &TerritoryRule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.conditions.matches(lead))
            .map(|(position, rule)| {
                // More than u32::MAX rules cannot be stored anywhere we deliver to; saturate rather than panic.
                let position = u32::try_from(position).unwrap_or(u32::MAX);
                (
                    RuleMatch {
                        rule_id: rule.id.clone(),
                        position,
                    },
                    rule,
                )
            })
    }
}

/// Compares two free-text values the way people mean them: trimmed, case-insensitively.
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    a.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .eq(b.trim().chars().flat_map(char::to_lowercase))
}

/// A postcode reduced to its letters and digits, upper-cased: `"sw1a 1aa"` → `"SW1A1AA"`,
/// `"94105-1234"` → `"941051234"`.
fn postcode_key(postcode: &str) -> String {
    postcode
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
pub(crate) mod generators {
    use proptest::prelude::*;

    use super::*;

    /// A country from a small set, so rules and leads meet often.
    pub(crate) fn arb_country() -> impl Strategy<Value = CountryCode> {
        prop::sample::select(vec!["DE", "FR", "US", "GB"])
            .prop_map(|c| CountryCode::new(c).expect("valid code"))
    }

    /// Lead attributes drawn from small vocabularies.
    pub(crate) fn arb_lead_attributes() -> impl Strategy<Value = LeadAttributes> {
        (
            prop::option::of(arb_country()),
            prop::option::of(prop::sample::select(vec![
                "Bavaria",
                "bavaria ",
                "Texas",
                "Île-de-France",
            ])),
            prop::option::of(prop::sample::select(vec![
                "80331",
                "SW1A 1AA",
                "94105-1234",
                "75001",
            ])),
            prop::option::of(prop::sample::select(vec![
                "Software", "software", "Retail", "Banking",
            ])),
            prop::option::of(0u32..20_000),
        )
            .prop_map(|(country, region, postcode, industry, company_size)| {
                LeadAttributes {
                    country,
                    region: region.map(str::to_owned),
                    postcode: postcode.map(str::to_owned),
                    industry: industry.map(str::to_owned),
                    company_size,
                }
            })
    }

    /// Valid territory conditions drawn from the same vocabularies as the leads.
    pub(crate) fn arb_conditions() -> impl Strategy<Value = TerritoryConditions> {
        (
            prop::collection::vec(arb_country(), 0..2),
            prop::collection::vec(prop::sample::select(vec!["BAVARIA", "Texas"]), 0..2),
            prop::collection::vec(prop::sample::select(vec!["8", "SW1", "941", "7500"]), 0..2),
            prop::collection::vec(prop::sample::select(vec!["SOFTWARE", "Retail"]), 0..2),
            prop::option::of((0u32..10_000, prop::option::of(0u32..10_000)).prop_map(
                |(min, span)| CompanySizeRange {
                    min,
                    max: span.map(|span| min.saturating_add(span)),
                },
            )),
        )
            .prop_map(
                |(countries, regions, postcode_prefixes, industries, company_size)| {
                    TerritoryConditions {
                        countries,
                        regions: regions.into_iter().map(str::to_owned).collect(),
                        postcode_prefixes: postcode_prefixes
                            .into_iter()
                            .map(str::to_owned)
                            .collect(),
                        industries: industries.into_iter().map(str::to_owned).collect(),
                        company_size,
                    }
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    const EMEA: TeamId = TeamId(Uuid::from_u128(0xe3ea));
    const DACH: TeamId = TeamId(Uuid::from_u128(0xdac4));
    const FALLBACK: TeamId = TeamId(Uuid::from_u128(0xfa11));

    fn country(code: &str) -> CountryCode {
        CountryCode::new(code).unwrap()
    }

    fn rule(id: &str, team: TeamId, conditions: TerritoryConditions) -> TerritoryRule {
        TerritoryRule {
            id: id.into(),
            conditions,
            team,
        }
    }

    fn german_lead() -> LeadAttributes {
        LeadAttributes {
            country: Some(country("DE")),
            region: Some("Bavaria".into()),
            postcode: Some("80331".into()),
            industry: Some("Software".into()),
            company_size: Some(250),
        }
    }

    fn matches(conditions: &TerritoryConditions, lead: &LeadAttributes) -> bool {
        conditions.matches(lead)
    }

    #[test]
    fn the_first_matching_rule_wins_even_when_a_later_one_also_matches() {
        let territories = Territories::new(
            vec![
                rule(
                    "us",
                    EMEA,
                    TerritoryConditions {
                        countries: vec![country("US")],
                        ..Default::default()
                    },
                ),
                rule(
                    "dach",
                    DACH,
                    TerritoryConditions {
                        countries: vec![country("DE")],
                        ..Default::default()
                    },
                ),
                rule("catch-all", EMEA, TerritoryConditions::default()),
            ],
            FALLBACK,
        )
        .unwrap();
        let (matched, rule) = territories.first_match(&german_lead()).unwrap();
        assert_eq!(
            matched,
            RuleMatch {
                rule_id: "dach".into(),
                position: 1
            }
        );
        assert_eq!(rule.team, DACH);
    }

    #[test]
    fn no_rule_matching_gives_none() {
        let territories = Territories::new(
            vec![rule(
                "us",
                EMEA,
                TerritoryConditions {
                    countries: vec![country("US")],
                    ..Default::default()
                },
            )],
            FALLBACK,
        )
        .unwrap();
        assert_eq!(territories.first_match(&german_lead()), None);
    }

    #[test]
    fn country_condition_matches_any_listed_country_and_not_an_unknown_one() {
        let dach = || TerritoryConditions {
            countries: vec![country("AT"), country("DE")],
            ..Default::default()
        };
        assert!(matches(&dach(), &german_lead()));
        assert!(!matches(
            &dach(),
            &LeadAttributes {
                country: Some(country("FR")),
                ..german_lead()
            }
        ));
        assert!(!matches(
            &dach(),
            &LeadAttributes {
                country: None,
                ..german_lead()
            }
        ));
    }

    #[test]
    fn region_condition_ignores_case_and_surrounding_spaces() {
        let bavaria = || TerritoryConditions {
            regions: vec![" BAVARIA".into()],
            ..Default::default()
        };
        assert!(matches(
            &bavaria(),
            &LeadAttributes {
                region: Some("bavaria ".into()),
                ..german_lead()
            }
        ));
        assert!(!matches(
            &bavaria(),
            &LeadAttributes {
                region: Some("Saxony".into()),
                ..german_lead()
            }
        ));
        assert!(!matches(
            &bavaria(),
            &LeadAttributes {
                region: None,
                ..german_lead()
            }
        ));
    }

    #[test]
    fn postcode_condition_matches_prefixes_ignoring_spaces_punctuation_and_case() {
        let london = || TerritoryConditions {
            postcode_prefixes: vec!["SW1A".into()],
            ..Default::default()
        };
        assert!(matches(
            &london(),
            &LeadAttributes {
                postcode: Some("sw1a 1aa".into()),
                ..german_lead()
            }
        ));
        assert!(!matches(
            &london(),
            &LeadAttributes {
                postcode: Some("SW19 1AA".into()),
                ..german_lead()
            }
        ));
        let bay_area = || TerritoryConditions {
            postcode_prefixes: vec!["941".into()],
            ..Default::default()
        };
        assert!(matches(
            &bay_area(),
            &LeadAttributes {
                postcode: Some("94105-1234".into()),
                ..german_lead()
            }
        ));
        assert!(!matches(
            &bay_area(),
            &LeadAttributes {
                postcode: None,
                ..german_lead()
            }
        ));
    }

    #[test]
    fn industry_condition_matches_any_listed_industry_case_insensitively() {
        let tech = || TerritoryConditions {
            industries: vec!["Banking".into(), "SOFTWARE".into()],
            ..Default::default()
        };
        assert!(matches(&tech(), &german_lead()));
        assert!(!matches(
            &tech(),
            &LeadAttributes {
                industry: Some("Retail".into()),
                ..german_lead()
            }
        ));
        assert!(!matches(
            &tech(),
            &LeadAttributes {
                industry: None,
                ..german_lead()
            }
        ));
    }

    #[test]
    fn company_size_condition_is_inclusive_at_both_ends() {
        let mid_market = || TerritoryConditions {
            company_size: Some(CompanySizeRange {
                min: 50,
                max: Some(250),
            }),
            ..Default::default()
        };
        for (size, expected) in [(49, false), (50, true), (250, true), (251, false)] {
            let lead = LeadAttributes {
                company_size: Some(size),
                ..german_lead()
            };
            assert_eq!(matches(&mid_market(), &lead), expected, "size {size}");
        }
        assert!(!matches(
            &mid_market(),
            &LeadAttributes {
                company_size: None,
                ..german_lead()
            }
        ));
        let enterprise = TerritoryConditions {
            company_size: Some(CompanySizeRange {
                min: 1000,
                max: None,
            }),
            ..Default::default()
        };
        assert!(matches(
            &enterprise,
            &LeadAttributes {
                company_size: Some(u32::MAX),
                ..german_lead()
            }
        ));
    }

    #[test]
    fn all_conditions_of_a_rule_must_hold() {
        let conditions = TerritoryConditions {
            countries: vec![country("DE")],
            industries: vec!["Retail".into()],
            ..Default::default()
        };
        assert!(!matches(&conditions, &german_lead()));
        assert!(matches(
            &conditions,
            &LeadAttributes {
                industry: Some("retail".into()),
                ..german_lead()
            }
        ));
    }

    #[test]
    fn a_rule_without_conditions_matches_even_an_empty_lead() {
        assert!(matches(
            &TerritoryConditions::default(),
            &LeadAttributes::default()
        ));
    }

    #[test]
    fn rules_that_cannot_be_told_apart_or_never_match_are_refused() {
        let any = TerritoryConditions::default;
        assert_eq!(
            Territories::new(
                vec![rule("a", EMEA, any()), rule("a", DACH, any())],
                FALLBACK
            ),
            Err(RoutingError::DuplicateRule {
                rule_id: "a".into()
            })
        );
        assert_eq!(
            Territories::new(vec![rule(" ", EMEA, any())], FALLBACK),
            Err(RoutingError::BlankRuleId { position: 0 })
        );
        let blank_prefix = TerritoryConditions {
            postcode_prefixes: vec![" - ".into()],
            ..any()
        };
        assert_eq!(
            Territories::new(vec![rule("p", EMEA, blank_prefix)], FALLBACK),
            Err(RoutingError::BlankCondition {
                rule_id: "p".into(),
                condition: "postcode_prefixes"
            })
        );
        let inverted = TerritoryConditions {
            company_size: Some(CompanySizeRange {
                min: 10,
                max: Some(9),
            }),
            ..any()
        };
        assert_eq!(
            Territories::new(vec![rule("s", EMEA, inverted)], FALLBACK),
            Err(RoutingError::EmptyCompanySizeRange {
                rule_id: "s".into(),
                min: 10,
                max: 9
            })
        );
    }

    #[test]
    fn territories_round_trip_through_json_and_are_validated_when_read() {
        let territories = Territories::new(
            vec![rule(
                "dach",
                DACH,
                TerritoryConditions {
                    countries: vec![country("DE")],
                    ..Default::default()
                },
            )],
            FALLBACK,
        )
        .unwrap();
        let json = serde_json::to_string(&territories).unwrap();
        assert_eq!(
            serde_json::from_str::<Territories>(&json).unwrap(),
            territories
        );
        let duplicated = json.replace(
            r#""rules":["#,
            r#""rules":[{"id":"dach","team":"00000000-0000-0000-0000-00000000e3ea"},"#,
        );
        assert!(serde_json::from_str::<Territories>(&duplicated).is_err());
    }
}
