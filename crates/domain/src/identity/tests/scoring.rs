//! Each verdict, the evidence behind it, thresholds and ranking.

use crate::identity::{
    CandidateMatch, CompanyDomain, CompanyName, CountryCode, EmailAddress, IdentityError,
    IdentityRecord, MatchAssessment, MatchConfig, MatchReason, MatchVerdict, NameAgreement,
    PersonName, PhoneNumber, Score, assess, rank_candidates,
};

/// A record built field by field, so each test names only what matters to it.
#[derive(Default, Clone)]
struct Person(IdentityRecord);

fn person() -> Person {
    Person::default()
}

impl Person {
    fn named(mut self, name: &str) -> Self {
        self.0.names.push(PersonName::new(name).unwrap());
        self
    }

    fn email(mut self, address: &str) -> Self {
        self.0.emails.push(EmailAddress::parse(address).unwrap());
        self
    }

    fn phone(mut self, number: &str) -> Self {
        self.0
            .phones
            .push(PhoneNumber::parse(number, CountryCode::new("DE").unwrap()).unwrap());
        self
    }

    fn website(mut self, domain: &str) -> Self {
        self.0.company_domain = Some(CompanyDomain::parse(domain).unwrap());
        self
    }

    fn company(mut self, name: &str) -> Self {
        self.0.company_name = Some(CompanyName::new(name).unwrap());
        self
    }
}

fn compare(left: &Person, right: &Person) -> MatchAssessment {
    let assessment = assess(&left.0, &right.0, &MatchConfig::default());
    assert_eq!(
        assess(&right.0, &left.0, &MatchConfig::default()),
        assessment,
        "not symmetric"
    );
    assessment
}

fn score(value: f64) -> Score {
    Score::new(value).unwrap()
}

fn has_reason(assessment: &MatchAssessment, wanted: impl Fn(&MatchReason) -> bool) -> bool {
    assessment.reasons.iter().any(wanted)
}

// Auto-link.

#[test]
fn the_same_email_address_auto_links_on_its_own() {
    let outcome = compare(
        &person().email("jane@yahoo.com"),
        &person().email("Jane@Yahoo.com").website("acme.com"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
    assert_eq!(outcome.score, score(0.95));
    assert_eq!(
        outcome.reasons,
        vec![MatchReason::EmailAgrees {
            email: "jane@yahoo.com".into(),
            role_account: false,
            weight: score(0.95)
        }]
    );
}

#[test]
fn gmail_spellings_of_one_mailbox_auto_link() {
    let outcome = compare(
        &person().email("J.Doe+crm@googlemail.com"),
        &person().email("jdoe@gmail.com"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
}

#[test]
fn the_same_email_and_name_auto_link_with_both_reasons() {
    let outcome = compare(
        &person().named("Jane Smith").email("jane@acme.com"),
        &person().named("JANE SMITH").email("jane@acme.com"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
    assert!(has_reason(&outcome, |r| matches!(
        r,
        MatchReason::EmailAgrees { .. }
    )));
    assert!(has_reason(&outcome, |r| matches!(
        r,
        MatchReason::NamesAgree {
            agreement: NameAgreement::Exact,
            ..
        }
    )));
    assert!(has_reason(
        &outcome,
        |r| matches!(r, MatchReason::CompanyDomainAgrees { domain, .. } if domain == "acme.com")
    ));
}

#[test]
fn a_phone_number_and_an_agreeing_name_auto_link() {
    let outcome = compare(
        &person().named("Jane Smith").phone("+49 30 1234567"),
        &person().named("Jane Smyth").phone("030 1234567"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
    assert!(has_reason(
        &outcome,
        |r| matches!(r, MatchReason::PhoneAgrees { e164, .. } if e164 == "+49301234567")
    ));
    assert!(has_reason(&outcome, |r| matches!(
        r,
        MatchReason::NamesAgree {
            agreement: NameAgreement::Agree,
            ..
        }
    )));
}

#[test]
fn a_tagged_address_and_the_same_name_auto_link() {
    let outcome = compare(
        &person().named("Jane Smith").email("jane+news@acme.com"),
        &person().named("Jane Smith").email("jane@acme.com"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
    assert!(has_reason(
        &outcome,
        |r| matches!(r, MatchReason::MailboxAgrees { mailbox, .. } if mailbox == "jane@acme.com")
    ));
}

#[test]
fn names_in_another_word_order_are_the_same_name() {
    let outcome = compare(
        &person().named("Smith, Jane").phone("030 1234567"),
        &person().named("Jane Smith").phone("030 1234567"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
    assert!(has_reason(&outcome, |r| matches!(
        r,
        MatchReason::NamesAgree { agreement: NameAgreement::Exact, similarity, .. } if *similarity == Score::ONE
    )));
}

#[test]
fn a_form_sent_twice_auto_links_even_with_only_a_phone_number() {
    let twice = person().phone("030 1234567");
    let outcome = compare(&twice, &twice);
    assert_eq!(outcome.verdict, MatchVerdict::AutoLink);
    assert_eq!(outcome.score, Score::ONE);
    assert_eq!(outcome.reasons[0], MatchReason::IdenticalIdentity);
}

// Review.

#[test]
fn a_phone_number_alone_goes_to_review() {
    let outcome = compare(
        &person().phone("030 1234567"),
        &person().phone("+49 30 1234567").website("acme.com"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Review);
    assert_eq!(outcome.score, score(0.85));
}

#[test]
fn a_shared_role_address_goes_to_review_even_with_the_same_name() {
    let outcome = compare(
        &person().named("Jane Smith").email("info@acme.com"),
        &person()
            .named("Jane Smith")
            .email("Info@acme.com")
            .company("Acme"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Review);
    assert_eq!(outcome.score, score(1.0 - 0.5 * 0.5 * 0.7));
    assert!(has_reason(&outcome, |r| matches!(
        r,
        MatchReason::EmailAgrees {
            role_account: true,
            ..
        }
    )));
}

#[test]
fn the_same_email_with_a_conflicting_name_goes_to_review() {
    let outcome = compare(
        &person().named("Jane Smith").email("j.smith@example.org"),
        &person().named("Bob Okafor").email("j.smith@example.org"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Review);
    // The address's domain is also a shared company domain: (1 − 0.05 × 0.7) × 0.7.
    assert_eq!(outcome.score, score(0.6755));
    assert!(has_reason(
        &outcome,
        |r| matches!(r, MatchReason::NamesConflict { factor, .. } if *factor == score(0.7))
    ));
}

#[test]
fn a_tagged_address_without_a_name_goes_to_review() {
    let outcome = compare(
        &person().email("jane+crm@yahoo.com"),
        &person().email("jane@yahoo.com"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Review);
}

#[test]
fn the_same_name_at_the_same_company_goes_to_review() {
    let outcome = compare(
        &person()
            .named("Jane Smith")
            .website("https://www.acme.com")
            .company("ACME Inc."),
        &person()
            .named("Jane Smith")
            .email("jsmith@acme.com")
            .company("Acme"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Review);
    assert!(has_reason(
        &outcome,
        |r| matches!(r, MatchReason::CompanyDomainAgrees { domain, .. } if domain == "acme.com")
    ));
    assert!(has_reason(&outcome, |r| matches!(
        r,
        MatchReason::CompanyNameAgrees { .. }
    )));
}

// Distinct.

#[test]
fn the_same_name_alone_stays_distinct() {
    let outcome = compare(
        &person().named("John Smith").email("john@a.example"),
        &person().named("John Smith").email("js@b.example"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Distinct);
    assert_eq!(outcome.score, score(0.5));
}

#[test]
fn a_shared_switchboard_with_different_names_stays_distinct() {
    let outcome = compare(
        &person().named("Alice Jones").phone("030 1234567"),
        &person().named("Bob Okafor").phone("030 1234567"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Distinct);
}

#[test]
fn records_with_nothing_in_common_are_distinct() {
    let outcome = compare(
        &person().named("Alice Jones").email("alice@a.example"),
        &person().named("Bob Okafor").phone("030 1234567"),
    );
    assert_eq!(outcome.verdict, MatchVerdict::Distinct);
    assert_eq!(outcome.score, Score::ZERO);
}

#[test]
fn names_that_differ_without_conflicting_are_reported_but_weigh_nothing() {
    let outcome = compare(&person().named("Jane Smith"), &person().named("Mary Smith"));
    assert_eq!(outcome.reasons.len(), 1);
    assert!(
        matches!(outcome.reasons[0], MatchReason::NamesDiffer { .. }),
        "{:?}",
        outcome.reasons
    );
    assert_eq!(outcome.score, Score::ZERO);
}

#[test]
fn empty_records_are_distinct_even_from_themselves() {
    let outcome = compare(&person(), &person());
    assert_eq!(
        outcome,
        MatchAssessment {
            score: Score::ZERO,
            verdict: MatchVerdict::Distinct,
            reasons: vec![]
        }
    );
}

#[test]
fn personal_mail_domains_are_not_a_shared_company() {
    let outcome = compare(
        &person().named("Jane Smith").email("a@gmail.com"),
        &person().named("Jane Smith").email("b@gmail.com"),
    );
    assert!(!has_reason(&outcome, |r| matches!(
        r,
        MatchReason::CompanyDomainAgrees { .. }
    )));
    assert_eq!(outcome.verdict, MatchVerdict::Distinct);
}

// Thresholds.

#[test]
fn thresholds_are_configurable() {
    let strict = MatchConfig {
        auto_link: score(0.99),
        review: score(0.9),
        ..MatchConfig::default()
    };
    let outcome = assess(
        &person().email("jane@example.org").0,
        &person().email("jane@example.org").named("Jane").0,
        &strict,
    );
    assert_eq!(outcome.verdict, MatchVerdict::Review);

    let lenient_names = MatchConfig {
        name_agreement: score(0.5),
        ..MatchConfig::default()
    };
    let outcome = assess(
        &person().named("Jane Smith").0,
        &person().named("Mary Smith").0,
        &lenient_names,
    );
    assert!(matches!(
        outcome.reasons[0],
        MatchReason::NamesAgree {
            agreement: NameAgreement::Agree,
            ..
        }
    ));
}

#[test]
fn thresholds_are_inclusive() {
    let config = MatchConfig::default();
    assert_eq!(config.verdict(score(0.9)), MatchVerdict::AutoLink);
    assert_eq!(config.verdict(score(0.8999)), MatchVerdict::Review);
    assert_eq!(config.verdict(score(0.6)), MatchVerdict::Review);
    assert_eq!(config.verdict(score(0.5999)), MatchVerdict::Distinct);
}

#[test]
fn the_defaults_follow_the_field() {
    let config = MatchConfig::default();
    assert_eq!(config.name_agreement, score(0.9));
    assert_eq!(config.name_similarity, score(0.85));
    assert_eq!(config.max_candidates, 100);
}

#[test]
fn scores_outside_zero_to_one_are_refused() {
    for bad in [-0.01, 1.0001, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(Score::new(bad), Err(IdentityError::InvalidScore { .. })),
            "{bad}"
        );
    }
    assert_eq!(
        Score::new(0.91254).unwrap(),
        Score::from_ten_thousandths(9125)
    );
    assert_eq!(Score::from_ten_thousandths(60_000), Score::ONE);
}

// Ranking and storage.

#[test]
fn candidates_are_ranked_best_first_then_by_id() {
    let probe = person()
        .named("Jane Smith")
        .email("jane@acme.com")
        .phone("030 1234567");
    let same_email = person().named("Jane Smith").email("jane@acme.com");
    let same_phone = person().phone("030 1234567");
    let stranger = person().named("Bob Okafor");
    let candidates = [
        (3, &stranger.0),
        (2, &same_phone.0),
        (4, &same_email.0),
        (1, &same_phone.0),
    ];

    let ranked = rank_candidates(&probe.0, candidates, &MatchConfig::default());

    let order: Vec<(i32, MatchVerdict)> = ranked
        .iter()
        .map(|m: &CandidateMatch<i32>| (m.candidate, m.assessment.verdict))
        .collect();
    assert_eq!(
        order,
        vec![
            (4, MatchVerdict::AutoLink),
            (1, MatchVerdict::Review),
            (2, MatchVerdict::Review),
            (3, MatchVerdict::Distinct)
        ]
    );
}

#[test]
fn assessments_and_configs_survive_a_round_trip_through_json() {
    let outcome = compare(
        &person()
            .named("Jane Smith")
            .email("jane@acme.com")
            .company("Acme"),
        &person()
            .named("Jane Smyth")
            .email("jane@acme.com")
            .company("ACME Ltd"),
    );
    let candidate = CandidateMatch {
        candidate: 7_u32,
        assessment: outcome,
    };
    let json = serde_json::to_string(&candidate).unwrap();
    assert!(json.contains(r#""verdict":"auto_link""#), "{json}");
    assert!(json.contains(r#""reason":"email_agrees""#), "{json}");
    assert_eq!(
        serde_json::from_str::<CandidateMatch<u32>>(&json).unwrap(),
        candidate
    );

    let partial: MatchConfig = serde_json::from_str(r#"{"auto_link": 0.95}"#).unwrap();
    assert_eq!(
        partial,
        MatchConfig {
            auto_link: score(0.95),
            ..MatchConfig::default()
        }
    );
    assert!(serde_json::from_str::<MatchConfig>(r#"{"review": 1.5}"#).is_err());
}
