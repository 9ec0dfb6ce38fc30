use chrono_tz::Tz;

use super::*;

fn reference(id: u128, version: u32) -> PolicyRef {
    PolicyRef {
        id: SlaPolicyId(Uuid::from_u128(id)),
        version: PolicyVersion(version),
    }
}

fn policy(id: u128, version: u32) -> SlaPolicy {
    SlaPolicy::new(
        reference(id, version),
        format!("policy {id}"),
        BusinessCalendar::always_open(Tz::UTC),
    )
}

fn subject(kind: ItemKind, priority: Priority) -> SlaSubject {
    SlaSubject::new(kind, priority)
}

#[test]
fn an_empty_filter_covers_everything() {
    let filter = PolicyFilter::any();
    assert!(filter.matches(&subject(ItemKind::Lead, Priority::Low)));
    assert!(filter.matches(&subject(ItemKind::Ticket, Priority::Urgent)));
}

#[test]
fn each_non_empty_part_of_a_filter_must_hold() {
    let team = TeamId(Uuid::from_u128(7));
    let filter = PolicyFilter {
        kinds: BTreeSet::from([ItemKind::Ticket]),
        priorities: BTreeSet::from([Priority::High, Priority::Urgent]),
        channels: BTreeSet::from([Channel::Email, Channel::Chat]),
        teams: BTreeSet::from([team]),
        tags: BTreeSet::from(["vip".to_owned()]),
    };
    let covered = SlaSubject {
        kind: ItemKind::Ticket,
        priority: Priority::Urgent,
        channel: Some(Channel::Chat),
        team: Some(team),
        tags: BTreeSet::from(["vip".to_owned(), "billing".to_owned()]),
    };
    assert!(filter.matches(&covered));
    let variants = [
        SlaSubject {
            kind: ItemKind::Lead,
            ..covered.clone()
        },
        SlaSubject {
            priority: Priority::Normal,
            ..covered.clone()
        },
        SlaSubject {
            channel: Some(Channel::Phone),
            ..covered.clone()
        },
        SlaSubject {
            channel: None,
            ..covered.clone()
        },
        SlaSubject {
            team: None,
            ..covered.clone()
        },
        SlaSubject {
            team: Some(TeamId(Uuid::from_u128(8))),
            ..covered.clone()
        },
        SlaSubject {
            tags: BTreeSet::from(["billing".to_owned()]),
            ..covered.clone()
        },
    ];
    for subject in variants {
        assert!(
            !filter.matches(&subject),
            "{subject:?} should not be covered"
        );
    }
}

#[test]
fn the_lead_first_touch_defaults_to_five_minutes_unless_set() {
    let plain = policy(1, 1);
    assert_eq!(
        plain.target(Priority::Normal, SlaMetric::LeadFirstTouch),
        Some(TimeDelta::minutes(5))
    );
    assert_eq!(
        plain.target(Priority::Normal, SlaMetric::FirstResponse),
        None
    );
    let set = plain
        .with_target(
            Priority::Urgent,
            SlaMetric::LeadFirstTouch,
            TimeDelta::minutes(2),
        )
        .unwrap();
    assert_eq!(
        set.target(Priority::Urgent, SlaMetric::LeadFirstTouch),
        Some(TimeDelta::minutes(2))
    );
    assert_eq!(
        set.target(Priority::Low, SlaMetric::LeadFirstTouch),
        Some(TimeDelta::minutes(5))
    );
}

#[test]
fn targets_must_be_positive_bounded_and_set_once() {
    let (priority, metric) = (Priority::Normal, SlaMetric::Resolution);
    assert_eq!(
        policy(1, 1).with_target(priority, metric, TimeDelta::zero()),
        Err(SlaError::TargetNotPositive { priority, metric })
    );
    assert_eq!(
        policy(1, 1).with_target(priority, metric, TimeDelta::days(MAX_TARGET_DAYS + 1)),
        Err(SlaError::TargetTooLong {
            priority,
            metric,
            max_days: MAX_TARGET_DAYS
        })
    );
    let once = policy(1, 1)
        .with_target(priority, metric, TimeDelta::hours(8))
        .unwrap();
    assert_eq!(
        once.with_target(priority, metric, TimeDelta::hours(9)),
        Err(SlaError::DuplicateTarget { priority, metric })
    );
}

#[test]
fn selection_takes_the_lowest_ranked_latest_version_that_covers_the_item() {
    let mut book = PolicyBook::new();
    book.publish(policy(1, 1).with_rank(10)).unwrap();
    book.publish(
        policy(2, 1)
            .with_rank(5)
            .with_filter(PolicyFilter::kind(ItemKind::Lead)),
    )
    .unwrap();
    let lead = subject(ItemKind::Lead, Priority::Normal);
    let ticket = subject(ItemKind::Ticket, Priority::Normal);
    assert_eq!(
        book.select(&lead).map(SlaPolicy::reference),
        Some(reference(2, 1))
    );
    assert_eq!(
        book.select(&ticket).map(SlaPolicy::reference),
        Some(reference(1, 1))
    );
    // A new version that no longer covers leads takes policy 2 out of lead selection.
    book.publish(
        policy(2, 2)
            .with_rank(5)
            .with_filter(PolicyFilter::kind(ItemKind::Ticket)),
    )
    .unwrap();
    assert_eq!(
        book.select(&lead).map(SlaPolicy::reference),
        Some(reference(1, 1))
    );
    assert_eq!(
        book.select(&ticket).map(SlaPolicy::reference),
        Some(reference(2, 2))
    );
    assert_eq!(book.version(reference(2, 1)).map(SlaPolicy::rank), Some(5));
    assert!(book.version(reference(2, 3)).is_none());
    assert!(PolicyBook::new().select(&lead).is_none());
}

#[test]
fn versions_only_go_forward() {
    let mut book = PolicyBook::new();
    book.publish(policy(1, 3)).unwrap();
    for version in [1, 3] {
        assert_eq!(
            book.publish(policy(1, version)),
            Err(SlaError::VersionNotNewer {
                policy: SlaPolicyId(Uuid::from_u128(1)),
                latest: PolicyVersion(3),
                given: PolicyVersion(version),
            })
        );
    }
    book.publish(policy(1, 4)).unwrap();
    assert_eq!(
        book.latest(SlaPolicyId(Uuid::from_u128(1)))
            .map(SlaPolicy::reference),
        Some(reference(1, 4))
    );
}

#[test]
fn a_book_is_stored_as_every_version_and_read_back_with_the_same_checks() {
    let mut book = PolicyBook::new();
    let targeted = policy(1, 1)
        .with_target(
            Priority::High,
            SlaMetric::FirstResponse,
            TimeDelta::minutes(90),
        )
        .unwrap();
    book.publish(targeted).unwrap();
    book.publish(policy(1, 2).with_filter(PolicyFilter::kind(ItemKind::Ticket)))
        .unwrap();
    book.publish(policy(2, 1)).unwrap();
    let json = serde_json::to_value(&book).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(3));
    assert_eq!(
        serde_json::from_value::<PolicyBook>(json.clone()).unwrap(),
        book
    );

    let mut twice = json.as_array().cloned().unwrap();
    twice.push(twice[0].clone());
    assert!(serde_json::from_value::<PolicyBook>(serde_json::Value::Array(twice)).is_err());
    let mut bad_target = json;
    bad_target[0]["targets"][0]["within"] = serde_json::json!([0, 0]);
    assert!(serde_json::from_value::<PolicyBook>(bad_target).is_err());
}

#[test]
fn a_policy_written_by_hand_reads_with_defaults_and_is_checked() {
    let json = serde_json::json!({
        "id": "00000000-0000-0000-0000-000000000009",
        "version": 1,
        "name": "leads",
        "filter": {"kinds": ["lead"], "channels": ["web"]},
        "calendar": {"time_zone": "America/New_York", "week": {"monday": [{"start": "09:00", "end": "17:00"}]}},
        "targets": [{"priority": "urgent", "metric": "lead_first_touch", "within": [120, 0]}]
    });
    let policy: SlaPolicy = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(policy.reference(), reference(9, 1));
    assert_eq!(policy.rank(), 0);
    assert_eq!(
        policy.target(Priority::Urgent, SlaMetric::LeadFirstTouch),
        Some(TimeDelta::minutes(2))
    );
    assert_eq!(
        serde_json::from_value::<SlaPolicy>(serde_json::to_value(&policy).unwrap()).unwrap(),
        policy
    );

    let mut negative = json;
    negative["targets"][0]["within"] = serde_json::json!([-60, 0]);
    assert!(serde_json::from_value::<SlaPolicy>(negative).is_err());
}
