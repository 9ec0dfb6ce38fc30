use std::num::NonZeroU8;

use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::ids::TeamId;
use crate::testing::{ALICE, BOB, CAROL, SEED, context_at, given, t0, t0_plus_minutes};
use crate::{decode, encode};

const TICKET: TicketId = TicketId(Uuid::from_u128(0x71ce7));
const EARLIER_TICKET: TicketId = TicketId(Uuid::from_u128(0x71ce6));
const ADA: ContactId = ContactId(Uuid::from_u128(0xada));
const GRACE: ContactId = ContactId(Uuid::from_u128(0x96ace));
const SECOND_LINE: TeamId = TeamId(Uuid::from_u128(0x211e));

// Builders: each reads as the fact it records.

fn alice() -> Actor {
    Actor::User { id: ALICE }
}

fn mailbox() -> Actor {
    Actor::Integration {
        source: "support-mailbox".into(),
    }
}

fn autoresponder() -> Actor {
    Actor::Automation {
        rule: "acknowledge-new-tickets".into(),
    }
}

fn level(n: u8) -> NonZeroU8 {
    NonZeroU8::new(n).unwrap()
}

/// Alice deciding `minutes` after t0.
fn alice_at(minutes: i64) -> Context {
    context_at(t0_plus_minutes(minutes))
}

fn as_actor(actor: Actor, minutes: i64) -> Context {
    Context::new(t0_plus_minutes(minutes), actor, SEED)
}

fn opened() -> TicketEvent {
    TicketEvent::Opened {
        ticket: TICKET,
        contact: ADA,
        subject: "Invoice shows the wrong VAT rate".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        follow_up_of: None,
        account: None,
        by: mailbox(),
        at: t0(),
    }
}

fn open_command() -> TicketCommand {
    TicketCommand::Open {
        ticket: TICKET,
        contact: ADA,
        subject: "Invoice shows the wrong VAT rate".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        message: None,
        follow_up_of: None,
        account: None,
    }
}

fn assigned(assignee: UserId, minutes: i64) -> TicketEvent {
    TicketEvent::Assigned {
        assignee,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn status_changed(status: TicketStatus, cause: StatusChangeCause, minutes: i64) -> TicketEvent {
    TicketEvent::StatusChanged {
        status,
        cause,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn opened_by_work(minutes: i64) -> TicketEvent {
    status_changed(
        TicketStatus::Open,
        StatusChangeCause::FirstAgentAction,
        minutes,
    )
}

fn set_to(status: TicketStatus, minutes: i64) -> TicketEvent {
    status_changed(status, StatusChangeCause::Requested, minutes)
}

fn agent_replied(first_response: bool, minutes: i64) -> TicketEvent {
    TicketEvent::AgentReplied {
        body: "We are looking into it.".into(),
        channel: Channel::Email,
        first_response,
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn customer_replied(from: ContactId, channel: Channel, minutes: i64) -> TicketEvent {
    TicketEvent::CustomerReplied {
        from,
        body: "Any news?".into(),
        channel,
        by: mailbox(),
        at: t0_plus_minutes(minutes),
    }
}

fn customer_reply(from: ContactId, channel: Channel) -> TicketCommand {
    TicketCommand::RecordCustomerReply {
        from,
        body: "Any news?".into(),
        channel,
    }
}

fn escalated(to: EscalationTarget, n: u8, minutes: i64) -> TicketEvent {
    TicketEvent::Escalated {
        to,
        level: level(n),
        reason: "Customer threatens to cancel".into(),
        by: alice(),
        at: t0_plus_minutes(minutes),
    }
}

fn escalate(to: EscalationTarget, n: u8) -> TicketCommand {
    TicketCommand::Escalate {
        to,
        level: level(n),
        reason: "Customer threatens to cancel".into(),
    }
}

fn second_line() -> EscalationTarget {
    EscalationTarget::Team { team: SECOND_LINE }
}

fn team_lead() -> EscalationTarget {
    EscalationTarget::User { user: CAROL }
}

/// A ticket Alice works on: opened, assigned to her (which opened it), replied to.
fn in_progress() -> Vec<TicketEvent> {
    vec![
        opened(),
        assigned(ALICE, 5),
        opened_by_work(5),
        agent_replied(true, 10),
    ]
}

fn with(mut events: Vec<TicketEvent>, more: &[TicketEvent]) -> Vec<TicketEvent> {
    events.extend_from_slice(more);
    events
}

fn solved_ticket() -> Vec<TicketEvent> {
    with(in_progress(), &[set_to(TicketStatus::Solved, 20)])
}

fn closed_ticket() -> Vec<TicketEvent> {
    with(solved_ticket(), &[set_to(TicketStatus::Closed, 60)])
}

// Opening.

#[test]
fn opening_a_ticket_records_it_as_new() {
    let ticket = given::<Ticket>(&[])
        .at(as_actor(mailbox(), 0))
        .when(open_command())
        .then(&[opened()]);
    assert_eq!(ticket.id, Some(TICKET));
    assert_eq!(ticket.status, Some(TicketStatus::New));
    assert_eq!(ticket.contact, Some(ADA));
    assert_eq!(ticket.priority, Some(Priority::Normal));
    assert_eq!(ticket.opened_at, Some(t0()));
}

#[test]
fn opening_with_the_customers_message_records_it_as_their_first_reply() {
    let command = TicketCommand::Open {
        ticket: TICKET,
        contact: ADA,
        subject: "Invoice shows the wrong VAT rate".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        message: Some("Any news?".into()),
        follow_up_of: None,
        account: None,
    };
    given::<Ticket>(&[])
        .at(as_actor(mailbox(), 0))
        .when(command)
        .then(&[opened(), customer_replied(ADA, Channel::Email, 0)]);
}

#[test]
fn opening_a_follow_up_links_the_closed_ticket_and_trims_the_subject() {
    let command = TicketCommand::Open {
        ticket: TICKET,
        contact: ADA,
        subject: "  Re: Invoice shows the wrong VAT rate \n".into(),
        channel: Channel::Chat,
        priority: Priority::High,
        message: None,
        follow_up_of: Some(EARLIER_TICKET),
        account: None,
    };
    let ticket = given::<Ticket>(&[])
        .at(alice_at(0))
        .when(command)
        .then(&[TicketEvent::Opened {
            ticket: TICKET,
            contact: ADA,
            subject: "Re: Invoice shows the wrong VAT rate".into(),
            channel: Channel::Chat,
            priority: Priority::High,
            follow_up_of: Some(EARLIER_TICKET),
            account: None,
            by: alice(),
            at: t0(),
        }]);
    assert_eq!(ticket.follow_up_of, Some(EARLIER_TICKET));
}

#[test]
fn opening_a_ticket_twice_is_refused() {
    given::<Ticket>(&[opened()])
        .when(open_command())
        .then_error(&TicketError::AlreadyOpened { id: TICKET });
}

#[test]
fn opening_a_ticket_with_a_blank_subject_is_refused() {
    let command = TicketCommand::Open {
        ticket: TICKET,
        contact: ADA,
        subject: " \t ".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        message: None,
        follow_up_of: None,
        account: None,
    };
    given::<Ticket>(&[])
        .when(command)
        .then_error(&TicketError::EmptySubject);
}

#[test]
fn opening_a_ticket_with_a_blank_message_is_refused() {
    let command = TicketCommand::Open {
        ticket: TICKET,
        contact: ADA,
        subject: "Invoice shows the wrong VAT rate".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        message: Some("\n\n".into()),
        follow_up_of: None,
        account: None,
    };
    given::<Ticket>(&[])
        .when(command)
        .then_error(&TicketError::EmptyBody);
}

#[test]
fn a_ticket_cannot_follow_up_itself() {
    let command = TicketCommand::Open {
        ticket: TICKET,
        contact: ADA,
        subject: "Invoice shows the wrong VAT rate".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        message: None,
        follow_up_of: Some(TICKET),
        account: None,
    };
    given::<Ticket>(&[])
        .when(command)
        .then_error(&TicketError::FollowUpOfItself { id: TICKET });
}

// Assigning.

#[test]
fn assigning_a_new_ticket_opens_it() {
    let ticket = given::<Ticket>(&[opened()])
        .at(alice_at(5))
        .when(TicketCommand::Assign { assignee: ALICE })
        .then(&[assigned(ALICE, 5), opened_by_work(5)]);
    assert_eq!(ticket.assignee, Some(ALICE));
    assert_eq!(ticket.status, Some(TicketStatus::Open));
}

#[test]
fn routing_a_new_ticket_by_automation_leaves_it_new() {
    let ticket = given::<Ticket>(&[opened()])
        .at(as_actor(autoresponder(), 1))
        .when(TicketCommand::Assign { assignee: BOB })
        .then(&[TicketEvent::Assigned {
            assignee: BOB,
            by: autoresponder(),
            at: t0_plus_minutes(1),
        }]);
    assert_eq!(ticket.status, Some(TicketStatus::New));
}

#[test]
fn reassigning_a_worked_ticket_changes_only_the_assignee() {
    given::<Ticket>(&in_progress())
        .at(alice_at(30))
        .when(TicketCommand::Assign { assignee: BOB })
        .then(&[assigned(BOB, 30)]);
}

#[test]
fn assigning_to_the_current_assignee_records_nothing() {
    given::<Ticket>(&in_progress())
        .at(alice_at(30))
        .when(TicketCommand::Assign { assignee: ALICE })
        .then(&[]);
}

#[test]
fn assigning_a_closed_ticket_is_refused() {
    given::<Ticket>(&closed_ticket())
        .at(alice_at(90))
        .when(TicketCommand::Assign { assignee: BOB })
        .then_error(&TicketError::Closed { id: TICKET });
}

#[test]
fn assigning_a_ticket_that_was_never_opened_is_refused() {
    given::<Ticket>(&[])
        .when(TicketCommand::Assign { assignee: BOB })
        .then_error(&TicketError::NotFound);
}

#[test]
fn acting_before_the_ticket_was_opened_is_refused() {
    given::<Ticket>(&[opened()])
        .at(alice_at(-1))
        .when(TicketCommand::Assign { assignee: BOB })
        .then_error(&TicketError::BeforeOpening {
            at: t0_plus_minutes(-1),
            opened_at: t0(),
        });
}

// Replying to the customer.

#[test]
fn the_first_agent_reply_is_the_first_response_and_opens_a_new_ticket() {
    let ticket = given::<Ticket>(&[opened()])
        .at(alice_at(10))
        .when(TicketCommand::ReplyToCustomer {
            body: "We are looking into it.".into(),
            channel: Channel::Email,
        })
        .then(&[agent_replied(true, 10), opened_by_work(10)]);
    assert_eq!(ticket.first_response_at, Some(t0_plus_minutes(10)));
}

#[test]
fn later_agent_replies_are_not_the_first_response() {
    given::<Ticket>(&in_progress())
        .at(alice_at(40))
        .when(TicketCommand::ReplyToCustomer {
            body: "We are looking into it.".into(),
            channel: Channel::Email,
        })
        .then(&[agent_replied(false, 40)]);
}

#[test]
fn an_automatic_acknowledgement_is_not_the_first_response() {
    let acknowledged = given::<Ticket>(&[opened()])
        .at(as_actor(autoresponder(), 0))
        .when(TicketCommand::ReplyToCustomer {
            body: "We got your message.".into(),
            channel: Channel::Email,
        })
        .then(&[TicketEvent::AgentReplied {
            body: "We got your message.".into(),
            channel: Channel::Email,
            first_response: false,
            by: autoresponder(),
            at: t0(),
        }]);
    assert_eq!(acknowledged.status, Some(TicketStatus::New));
    let after_the_acknowledgement = acknowledged
        .decide(
            TicketCommand::ReplyToCustomer {
                body: "We are looking into it.".into(),
                channel: Channel::Email,
            },
            &alice_at(10),
        )
        .unwrap();
    assert_eq!(
        after_the_acknowledgement,
        vec![agent_replied(true, 10), opened_by_work(10)]
    );
}

#[test]
fn an_agent_reply_keeps_a_pending_ticket_pending() {
    given::<Ticket>(&with(in_progress(), &[set_to(TicketStatus::Pending, 20)]))
        .at(alice_at(30))
        .when(TicketCommand::ReplyToCustomer {
            body: "We are looking into it.".into(),
            channel: Channel::Email,
        })
        .then(&[agent_replied(false, 30)]);
}

#[test]
fn a_blank_agent_reply_is_refused() {
    given::<Ticket>(&in_progress())
        .at(alice_at(30))
        .when(TicketCommand::ReplyToCustomer {
            body: "   ".into(),
            channel: Channel::Email,
        })
        .then_error(&TicketError::EmptyBody);
}

#[test]
fn replying_to_a_closed_ticket_is_refused() {
    given::<Ticket>(&closed_ticket())
        .at(alice_at(90))
        .when(TicketCommand::ReplyToCustomer {
            body: "One more thing.".into(),
            channel: Channel::Email,
        })
        .then_error(&TicketError::Closed { id: TICKET });
}

// Customer replies.

#[test]
fn a_customer_reply_to_an_open_ticket_changes_no_status() {
    given::<Ticket>(&in_progress())
        .at(as_actor(mailbox(), 30))
        .when(customer_reply(ADA, Channel::Email))
        .then(&[customer_replied(ADA, Channel::Email, 30)]);
}

#[test]
fn a_customer_reply_to_a_new_ticket_leaves_it_new() {
    let ticket = given::<Ticket>(&[opened()])
        .at(as_actor(mailbox(), 3))
        .when(customer_reply(ADA, Channel::Email))
        .then(&[customer_replied(ADA, Channel::Email, 3)]);
    assert_eq!(ticket.status, Some(TicketStatus::New));
}

#[test]
fn a_customer_reply_to_a_pending_ticket_opens_it() {
    let ticket = given::<Ticket>(&with(in_progress(), &[set_to(TicketStatus::Pending, 20)]))
        .at(as_actor(mailbox(), 30))
        .when(customer_reply(ADA, Channel::Email))
        .then(&[
            customer_replied(ADA, Channel::Email, 30),
            TicketEvent::StatusChanged {
                status: TicketStatus::Open,
                cause: StatusChangeCause::CustomerReplied,
                by: mailbox(),
                at: t0_plus_minutes(30),
            },
        ]);
    assert_eq!(ticket.status, Some(TicketStatus::Open));
}

#[test]
fn a_customer_reply_through_another_channel_counts() {
    given::<Ticket>(&with(in_progress(), &[set_to(TicketStatus::Pending, 20)]))
        .at(alice_at(30))
        .when(customer_reply(ADA, Channel::Phone))
        .then(&[
            TicketEvent::CustomerReplied {
                from: ADA,
                body: "Any news?".into(),
                channel: Channel::Phone,
                by: alice(),
                at: t0_plus_minutes(30),
            },
            status_changed(TicketStatus::Open, StatusChangeCause::CustomerReplied, 30),
        ]);
}

#[test]
fn a_reply_from_someone_copied_in_counts_as_the_customers() {
    given::<Ticket>(&with(in_progress(), &[set_to(TicketStatus::Pending, 20)]))
        .at(alice_at(30))
        .when(customer_reply(GRACE, Channel::Email))
        .then(&[
            TicketEvent::CustomerReplied {
                from: GRACE,
                body: "Any news?".into(),
                channel: Channel::Email,
                by: alice(),
                at: t0_plus_minutes(30),
            },
            status_changed(TicketStatus::Open, StatusChangeCause::CustomerReplied, 30),
        ]);
}

#[test]
fn a_customer_reply_to_an_on_hold_ticket_opens_it() {
    given::<Ticket>(&with(in_progress(), &[set_to(TicketStatus::OnHold, 20)]))
        .at(alice_at(30))
        .when(customer_reply(ADA, Channel::Chat))
        .then(&[
            TicketEvent::CustomerReplied {
                from: ADA,
                body: "Any news?".into(),
                channel: Channel::Chat,
                by: alice(),
                at: t0_plus_minutes(30),
            },
            status_changed(TicketStatus::Open, StatusChangeCause::CustomerReplied, 30),
        ]);
}

#[test]
fn a_customer_reply_to_a_solved_ticket_reopens_it() {
    let ticket = given::<Ticket>(&solved_ticket())
        .at(as_actor(mailbox(), 30))
        .when(customer_reply(ADA, Channel::Email))
        .then(&[
            customer_replied(ADA, Channel::Email, 30),
            TicketEvent::Reopened {
                cause: ReopenCause::CustomerReplied { from: ADA },
                by: mailbox(),
                at: t0_plus_minutes(30),
            },
        ]);
    assert_eq!(ticket.status, Some(TicketStatus::Open));
}

#[test]
fn a_customer_reply_to_a_closed_ticket_asks_for_a_follow_up_ticket() {
    given::<Ticket>(&with(closed_ticket(), &[]))
        .at(as_actor(mailbox(), 90))
        .when(customer_reply(ADA, Channel::Email))
        .then_error(&TicketError::ReplyToClosedTicket {
            id: TICKET,
            subject: "Invoice shows the wrong VAT rate".into(),
            priority: Priority::Normal,
            assignee: Some(ALICE),
        });
}

#[test]
fn a_blank_customer_reply_is_refused() {
    given::<Ticket>(&in_progress())
        .at(as_actor(mailbox(), 30))
        .when(TicketCommand::RecordCustomerReply {
            from: ADA,
            body: String::new(),
            channel: Channel::Email,
        })
        .then_error(&TicketError::EmptyBody);
}

#[test]
fn a_customer_reply_to_a_ticket_that_was_never_opened_is_refused() {
    given::<Ticket>(&[])
        .when(customer_reply(ADA, Channel::Email))
        .then_error(&TicketError::NotFound);
}

// Status changes.

#[test]
fn an_agent_can_put_an_open_ticket_on_pending_on_hold_or_solved() {
    for status in [
        TicketStatus::Pending,
        TicketStatus::OnHold,
        TicketStatus::Solved,
    ] {
        let ticket = given::<Ticket>(&in_progress())
            .at(alice_at(20))
            .when(TicketCommand::ChangeStatus { status })
            .then(&[set_to(status, 20)]);
        assert_eq!(ticket.status, Some(status));
    }
}

#[test]
fn a_new_ticket_can_be_solved_directly() {
    given::<Ticket>(&[opened()])
        .at(alice_at(2))
        .when(TicketCommand::ChangeStatus {
            status: TicketStatus::Solved,
        })
        .then(&[set_to(TicketStatus::Solved, 2)]);
}

#[test]
fn closing_a_solved_ticket_is_final() {
    let ticket = given::<Ticket>(&solved_ticket())
        .at(alice_at(60))
        .when(TicketCommand::ChangeStatus {
            status: TicketStatus::Closed,
        })
        .then(&[set_to(TicketStatus::Closed, 60)]);
    assert!(ticket.status.is_some_and(TicketStatus::is_final));
}

#[test]
fn changing_to_the_current_status_records_nothing() {
    given::<Ticket>(&in_progress())
        .at(alice_at(20))
        .when(TicketCommand::ChangeStatus {
            status: TicketStatus::Open,
        })
        .then(&[]);
}

#[test]
fn going_back_to_new_is_refused() {
    given::<Ticket>(&in_progress())
        .at(alice_at(20))
        .when(TicketCommand::ChangeStatus {
            status: TicketStatus::New,
        })
        .then_error(&TicketError::BackToNew {
            status: TicketStatus::Open,
        });
}

#[test]
fn a_solved_ticket_goes_back_to_work_only_through_a_reopen() {
    for status in [
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::OnHold,
    ] {
        given::<Ticket>(&solved_ticket())
            .at(alice_at(30))
            .when(TicketCommand::ChangeStatus { status })
            .then_error(&TicketError::ReopenRequired { id: TICKET });
    }
}

#[test]
fn closing_an_unsolved_ticket_is_refused() {
    given::<Ticket>(&in_progress())
        .at(alice_at(20))
        .when(TicketCommand::ChangeStatus {
            status: TicketStatus::Closed,
        })
        .then_error(&TicketError::CloseUnsolved {
            status: TicketStatus::Open,
        });
}

#[test]
fn changing_the_status_of_a_closed_ticket_is_refused() {
    given::<Ticket>(&closed_ticket())
        .at(alice_at(90))
        .when(TicketCommand::ChangeStatus {
            status: TicketStatus::Solved,
        })
        .then_error(&TicketError::Closed { id: TICKET });
}

// Priority.

#[test]
fn raising_the_priority_is_recorded() {
    let ticket = given::<Ticket>(&in_progress())
        .at(alice_at(15))
        .when(TicketCommand::ChangePriority {
            priority: Priority::Urgent,
        })
        .then(&[TicketEvent::PriorityChanged {
            priority: Priority::Urgent,
            by: alice(),
            at: t0_plus_minutes(15),
        }]);
    assert_eq!(ticket.priority, Some(Priority::Urgent));
}

#[test]
fn setting_the_current_priority_records_nothing() {
    given::<Ticket>(&in_progress())
        .at(alice_at(15))
        .when(TicketCommand::ChangePriority {
            priority: Priority::Normal,
        })
        .then(&[]);
}

#[test]
fn changing_the_priority_of_a_closed_ticket_is_refused() {
    given::<Ticket>(&closed_ticket())
        .at(alice_at(90))
        .when(TicketCommand::ChangePriority {
            priority: Priority::Urgent,
        })
        .then_error(&TicketError::Closed { id: TICKET });
}

// Escalation.

#[test]
fn escalating_to_a_team_records_the_level_and_the_trimmed_reason() {
    let command = TicketCommand::Escalate {
        to: second_line(),
        level: level(1),
        reason: "  Customer threatens to cancel ".into(),
    };
    let ticket = given::<Ticket>(&in_progress())
        .at(alice_at(15))
        .when(command)
        .then(&[escalated(second_line(), 1, 15)]);
    assert_eq!(
        ticket.escalation,
        Some(Escalation {
            level: level(1),
            to: second_line(),
            since: t0_plus_minutes(15)
        })
    );
}

#[test]
fn escalating_to_a_person_at_a_higher_level_is_recorded() {
    given::<Ticket>(&with(in_progress(), &[escalated(second_line(), 1, 15)]))
        .at(alice_at(45))
        .when(escalate(team_lead(), 2))
        .then(&[escalated(team_lead(), 2, 45)]);
}

#[test]
fn escalating_twice_to_the_same_level_records_nothing() {
    given::<Ticket>(&with(in_progress(), &[escalated(second_line(), 1, 15)]))
        .at(alice_at(45))
        .when(escalate(team_lead(), 1))
        .then(&[]);
}

#[test]
fn escalating_below_the_current_level_is_refused() {
    given::<Ticket>(&with(in_progress(), &[escalated(team_lead(), 2, 15)]))
        .at(alice_at(45))
        .when(escalate(second_line(), 1))
        .then_error(&TicketError::EscalationBelowCurrent {
            current: level(2),
            requested: level(1),
        });
}

#[test]
fn escalating_without_a_reason_is_refused() {
    given::<Ticket>(&in_progress())
        .at(alice_at(15))
        .when(TicketCommand::Escalate {
            to: second_line(),
            level: level(1),
            reason: " ".into(),
        })
        .then_error(&TicketError::EmptyReason);
}

#[test]
fn escalating_a_closed_ticket_is_refused() {
    given::<Ticket>(&closed_ticket())
        .at(alice_at(90))
        .when(escalate(second_line(), 1))
        .then_error(&TicketError::Closed { id: TICKET });
}

// Reopening.

#[test]
fn reopening_a_solved_ticket_records_who_and_why() {
    let ticket = given::<Ticket>(&solved_ticket())
        .at(alice_at(30))
        .when(TicketCommand::Reopen {
            reason: " The fix did not reach production ".into(),
        })
        .then(&[TicketEvent::Reopened {
            cause: ReopenCause::Requested {
                reason: "The fix did not reach production".into(),
            },
            by: alice(),
            at: t0_plus_minutes(30),
        }]);
    assert_eq!(ticket.status, Some(TicketStatus::Open));
}

#[test]
fn reopening_an_unsolved_ticket_is_refused() {
    given::<Ticket>(&in_progress())
        .at(alice_at(30))
        .when(TicketCommand::Reopen {
            reason: "Not done".into(),
        })
        .then_error(&TicketError::ReopenUnsolved {
            status: TicketStatus::Open,
        });
}

#[test]
fn reopening_without_a_reason_is_refused() {
    given::<Ticket>(&solved_ticket())
        .at(alice_at(30))
        .when(TicketCommand::Reopen {
            reason: String::new(),
        })
        .then_error(&TicketError::EmptyReason);
}

#[test]
fn reopening_a_closed_ticket_is_refused() {
    given::<Ticket>(&closed_ticket())
        .at(alice_at(90))
        .when(TicketCommand::Reopen {
            reason: "Customer wrote again".into(),
        })
        .then_error(&TicketError::Closed { id: TICKET });
}

// The stored form.

/// One event of each type, exactly as stored. These names and payloads are a contract with
/// every stored stream: a change here needs a new schema version and an upcaster.
#[test]
fn events_are_stored_under_stable_names_and_payloads() {
    let events = vec![
        opened(),
        assigned(ALICE, 5),
        agent_replied(true, 10),
        customer_replied(GRACE, Channel::Sms, 12),
        status_changed(TicketStatus::OnHold, StatusChangeCause::Requested, 20),
        TicketEvent::PriorityChanged {
            priority: Priority::Urgent,
            by: autoresponder(),
            at: t0_plus_minutes(21),
        },
        escalated(second_line(), 1, 22),
        TicketEvent::Reopened {
            cause: ReopenCause::CustomerReplied { from: ADA },
            by: mailbox(),
            at: t0_plus_minutes(23),
        },
    ];
    let stored: Vec<_> = events
        .iter()
        .map(|event| {
            let encoded = encode(event).unwrap();
            assert_eq!(encoded.schema_version, 1);
            json!({ "type": encoded.event_type, "data": encoded.payload })
        })
        .collect();
    let ticket = TICKET.to_string();
    let ada = ADA.to_string();
    let grace = GRACE.to_string();
    let alice = ALICE.to_string();
    let team = SECOND_LINE.to_string();
    let expected = json!([
        { "type": "TicketOpened", "data": {
            "ticket": ticket, "contact": ada, "subject": "Invoice shows the wrong VAT rate",
            "channel": "email", "priority": "normal", "follow_up_of": null,
            "by": { "kind": "integration", "source": "support-mailbox" },
            "at": "2026-03-02T09:00:00Z" } },
        { "type": "TicketAssigned", "data": {
            "assignee": alice, "by": { "kind": "user", "id": alice }, "at": "2026-03-02T09:05:00Z" } },
        { "type": "TicketAgentReplied", "data": {
            "body": "We are looking into it.", "channel": "email", "first_response": true,
            "by": { "kind": "user", "id": alice }, "at": "2026-03-02T09:10:00Z" } },
        { "type": "TicketCustomerReplied", "data": {
            "from": grace, "body": "Any news?", "channel": "sms",
            "by": { "kind": "integration", "source": "support-mailbox" }, "at": "2026-03-02T09:12:00Z" } },
        { "type": "TicketStatusChanged", "data": {
            "status": "on_hold", "cause": "requested",
            "by": { "kind": "user", "id": alice }, "at": "2026-03-02T09:20:00Z" } },
        { "type": "TicketPriorityChanged", "data": {
            "priority": "urgent", "by": { "kind": "automation", "rule": "acknowledge-new-tickets" },
            "at": "2026-03-02T09:21:00Z" } },
        { "type": "TicketEscalated", "data": {
            "to": { "kind": "team", "team": team }, "level": 1, "reason": "Customer threatens to cancel",
            "by": { "kind": "user", "id": alice }, "at": "2026-03-02T09:22:00Z" } },
        { "type": "TicketReopened", "data": {
            "cause": { "cause": "customer_replied", "from": ada },
            "by": { "kind": "integration", "source": "support-mailbox" }, "at": "2026-03-02T09:23:00Z" } },
    ]);
    assert_eq!(serde_json::Value::Array(stored), expected);
    for event in &events {
        let encoded = encode(event).unwrap();
        let decoded: TicketEvent =
            decode(encoded.event_type, encoded.schema_version, encoded.payload).unwrap();
        assert_eq!(&decoded, event);
    }
}

#[test]
fn an_escalation_level_of_zero_is_never_read_from_storage() {
    let mut payload = encode(&escalated(second_line(), 1, 22)).unwrap().payload;
    payload["level"] = json!(0);
    assert!(decode::<TicketEvent>("TicketEscalated", 1, payload).is_err());
}

#[test]
fn errors_speak_the_crms_words() {
    assert_eq!(
        TicketError::BackToNew {
            status: TicketStatus::OnHold
        }
        .to_string(),
        "a ticket that is on hold cannot go back to new"
    );
    assert_eq!(
        TicketError::CloseUnsolved {
            status: TicketStatus::OnHold
        }
        .to_string(),
        "only a solved ticket can be closed; this one is on hold"
    );
    assert_eq!(
        TicketError::Closed { id: TICKET }.to_string(),
        format!("ticket {TICKET} is closed and can no longer be changed")
    );
}

// Properties.

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        4 => prop::sample::select(vec![ALICE, BOB, CAROL]).prop_map(|id| Actor::User { id }),
        1 => Just(mailbox()),
        1 => Just(autoresponder()),
        1 => Just(Actor::System { component: "sla-scheduler".into() }),
    ]
}

// Priority and Channel live in files other modules own; their generators stay here until
// those modules grow their own.
fn arb_priority() -> impl Strategy<Value = Priority> {
    prop::sample::select(Priority::ALL.to_vec())
}

fn arb_channel() -> impl Strategy<Value = Channel> {
    prop::sample::select(vec![
        Channel::Email,
        Channel::Phone,
        Channel::Sms,
        Channel::Chat,
        Channel::Web,
        Channel::Social,
    ])
}

fn arb_status() -> impl Strategy<Value = TicketStatus> {
    prop::sample::select(TicketStatus::ALL.to_vec())
}

fn arb_level() -> impl Strategy<Value = NonZeroU8> {
    (1u8..=4).prop_map(level)
}

fn arb_target() -> impl Strategy<Value = EscalationTarget> {
    prop_oneof![
        Just(second_line()),
        prop::sample::select(vec![ALICE, BOB, CAROL])
            .prop_map(|user| EscalationTarget::User { user }),
    ]
}

/// Message bodies, subjects and reasons: mostly real text, sometimes blank, sometimes odd.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[A-Za-z][A-Za-z ,.?!]{0,30}",
        1 => Just(String::new()),
        1 => "[ \t\n]{1,4}",
        2 => "\\PC{1,20}",
    ]
}

fn arb_contact() -> impl Strategy<Value = ContactId> {
    prop::sample::select(vec![ADA, GRACE])
}

fn arb_open() -> impl Strategy<Value = TicketCommand> {
    (
        prop::sample::select(vec![TICKET, EARLIER_TICKET]),
        arb_contact(),
        arb_text(),
        arb_channel(),
        arb_priority(),
        proptest::option::of(arb_text()),
        proptest::option::weighted(0.2, prop::sample::select(vec![EARLIER_TICKET, TICKET])),
    )
        .prop_map(
            |(ticket, contact, subject, channel, priority, message, follow_up_of)| {
                TicketCommand::Open {
                    ticket,
                    contact,
                    subject,
                    channel,
                    priority,
                    message,
                    follow_up_of,
                    account: None,
                }
            },
        )
}

fn arb_command() -> impl Strategy<Value = TicketCommand> {
    prop_oneof![
        1 => arb_open(),
        3 => prop::sample::select(vec![ALICE, BOB, CAROL]).prop_map(|assignee| TicketCommand::Assign { assignee }),
        4 => (arb_text(), arb_channel()).prop_map(|(body, channel)| TicketCommand::ReplyToCustomer { body, channel }),
        4 => (arb_contact(), arb_text(), arb_channel())
            .prop_map(|(from, body, channel)| TicketCommand::RecordCustomerReply { from, body, channel }),
        5 => arb_status().prop_map(|status| TicketCommand::ChangeStatus { status }),
        2 => arb_priority().prop_map(|priority| TicketCommand::ChangePriority { priority }),
        2 => (arb_target(), arb_level(), arb_text())
            .prop_map(|(to, level, reason)| TicketCommand::Escalate { to, level, reason }),
        2 => arb_text().prop_map(|reason| TicketCommand::Reopen { reason }),
    ]
}

/// Commands with their contexts, each a few minutes after the one before and now and then a
/// little before it (clocks of different servers disagree).
fn arb_steps(max: usize) -> impl Strategy<Value = Vec<(TicketCommand, Context)>> {
    // Most sequences start by opening the ticket (a command that may still be refused), so
    // that most of the commands after it meet a ticket.
    let opening = proptest::option::weighted(0.9, (arb_open(), arb_actor()));
    let rest = proptest::collection::vec((arb_command(), arb_actor(), -5i64..180), 0..max);
    (opening, rest).prop_map(|(opening, rest)| {
        let mut minutes = 0;
        let opening = opening.map(|(command, actor)| (command, as_actor(actor, 0)));
        let rest = rest.into_iter().map(|(command, actor, delta)| {
            minutes += delta;
            (command, as_actor(actor, minutes))
        });
        opening.into_iter().chain(rest).collect()
    })
}

/// Any event at all, including ones `decide` would never emit, in any order.
fn arb_event() -> impl Strategy<Value = TicketEvent> {
    let at = (-60i64..5_000).prop_map(t0_plus_minutes);
    prop_oneof![
        (
            arb_contact(),
            arb_text(),
            arb_channel(),
            arb_priority(),
            arb_actor(),
            at.clone()
        )
            .prop_map(|(contact, subject, channel, priority, by, at)| {
                TicketEvent::Opened {
                    ticket: TICKET,
                    contact,
                    subject,
                    channel,
                    priority,
                    follow_up_of: Some(EARLIER_TICKET),
                    account: None,
                    by,
                    at,
                }
            }),
        (
            prop::sample::select(vec![ALICE, BOB]),
            arb_actor(),
            at.clone()
        )
            .prop_map(|(assignee, by, at)| TicketEvent::Assigned { assignee, by, at }),
        (
            arb_text(),
            arb_channel(),
            any::<bool>(),
            arb_actor(),
            at.clone()
        )
            .prop_map(|(body, channel, first_response, by, at)| {
                TicketEvent::AgentReplied {
                    body,
                    channel,
                    first_response,
                    by,
                    at,
                }
            }),
        (
            arb_contact(),
            arb_text(),
            arb_channel(),
            arb_actor(),
            at.clone()
        )
            .prop_map(
                |(from, body, channel, by, at)| TicketEvent::CustomerReplied {
                    from,
                    body,
                    channel,
                    by,
                    at
                }
            ),
        (
            arb_status(),
            prop::sample::select(vec![
                StatusChangeCause::Requested,
                StatusChangeCause::FirstAgentAction,
                StatusChangeCause::CustomerReplied
            ]),
            arb_actor(),
            at.clone()
        )
            .prop_map(|(status, cause, by, at)| TicketEvent::StatusChanged {
                status,
                cause,
                by,
                at
            }),
        (arb_priority(), arb_actor(), at.clone())
            .prop_map(|(priority, by, at)| TicketEvent::PriorityChanged { priority, by, at }),
        (
            arb_target(),
            arb_level(),
            arb_text(),
            arb_actor(),
            at.clone()
        )
            .prop_map(|(to, level, reason, by, at)| TicketEvent::Escalated {
                to,
                level,
                reason,
                by,
                at
            }),
        (
            prop_oneof![
                arb_contact().prop_map(|from| ReopenCause::CustomerReplied { from }),
                arb_text().prop_map(|reason| ReopenCause::Requested { reason }),
            ],
            arb_actor(),
            at
        )
            .prop_map(|(cause, by, at)| TicketEvent::Reopened { cause, by, at }),
    ]
}

fn round_trip(event: &TicketEvent) -> TicketEvent {
    let encoded = encode(event).unwrap();
    decode(encoded.event_type, encoded.schema_version, encoded.payload).unwrap()
}

/// An accepted command: the state before it, the command, and the events it produced.
type Accepted = (Ticket, TicketCommand, Vec<TicketEvent>);

/// Runs the steps through decide and evolve, skipping refused commands; returns the final
/// state, every emitted event, and every accepted command.
fn run(steps: Vec<(TicketCommand, Context)>) -> (Ticket, Vec<TicketEvent>, Vec<Accepted>) {
    let mut state = Ticket::default();
    let mut all = Vec::new();
    let mut accepted = Vec::new();
    for (command, ctx) in steps {
        if let Ok(events) = state.decide(command.clone(), &ctx) {
            let before = state.clone();
            state = events.iter().fold(state, Aggregate::evolve);
            all.extend(events.iter().cloned());
            accepted.push((before, command, events));
        }
    }
    (state, all, accepted)
}

proptest! {
    #[test]
    fn replaying_the_events_rebuilds_the_state_also_after_storage(
        steps in arb_steps(40)
    ) {
        let (state, events, _) = run(steps);
        crate::testing::check_replay(&state, &events)?;
    }

    #[test]
    fn evolve_accepts_any_sequence_of_facts_and_storage_keeps_them(
        events in proptest::collection::vec(arb_event(), 0..30)
    ) {
        let state = Ticket::replay(&events);
        let stored: Vec<TicketEvent> = events.iter().map(round_trip).collect();
        prop_assert_eq!(&stored, &events);
        prop_assert_eq!(Ticket::replay(&stored), state.clone());
        prop_assert_eq!(state.id.is_some(), state.status.is_some());
    }

    #[test]
    fn a_closed_ticket_never_changes_again(
        steps in arb_steps(60)
    ) {
        let mut state = Ticket::default();
        for (command, ctx) in steps {
            let result = state.decide(command, &ctx);
            if state.status == Some(TicketStatus::Closed) {
                prop_assert!(result.is_err(), "a closed ticket accepted a command: {:?}", result);
                continue;
            }
            if let Ok(events) = result {
                state = events.iter().fold(state, Aggregate::evolve);
            }
        }
    }

    #[test]
    fn a_ticket_always_has_one_of_the_six_statuses_once_opened(
        steps in arb_steps(40)
    ) {
        let mut state = Ticket::default();
        for (command, ctx) in steps {
            if let Ok(events) = state.decide(command, &ctx) {
                for event in &events {
                    state = state.evolve(event);
                    prop_assert_eq!(state.id.is_some(), state.status.is_some());
                    if let Some(status) = state.status {
                        prop_assert!(TicketStatus::ALL.contains(&status));
                        let stored = serde_json::to_value(status).unwrap();
                        prop_assert!(
                            ["new", "open", "pending", "on_hold", "solved", "closed"]
                                .contains(&stored.as_str().unwrap_or_default())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn nothing_is_recorded_before_the_opening(
        steps in arb_steps(40)
    ) {
        let (_, events, _) = run(steps);
        if let Some((first, rest)) = events.split_first() {
            let TicketEvent::Opened { at: opened_at, .. } = first else {
                return Err(TestCaseError::fail(format!("the first event is not the opening: {first:?}")));
            };
            for event in rest {
                prop_assert!(!matches!(event, TicketEvent::Opened { .. }), "opened twice");
                prop_assert!(event.at() >= *opened_at, "{:?} is dated before the opening", event);
            }
        }
    }

    #[test]
    fn only_one_reply_by_a_person_is_the_first_response(
        steps in arb_steps(40)
    ) {
        let (state, events, _) = run(steps);
        let first_responses: Vec<_> = events
            .iter()
            .filter_map(|event| match event {
                TicketEvent::AgentReplied { first_response: true, by, at, .. } => Some((by.clone(), *at)),
                _ => None,
            })
            .collect();
        prop_assert!(first_responses.len() <= 1);
        if let Some((by, at)) = first_responses.first() {
            prop_assert!(!is_automated(by));
            prop_assert_eq!(state.first_response_at, Some(*at));
        }
        let replies_by_people = events.iter().any(|event| {
            matches!(event, TicketEvent::AgentReplied { by, .. } if !is_automated(by))
        });
        prop_assert_eq!(replies_by_people, first_responses.len() == 1);
    }

    #[test]
    fn every_recorded_fact_changes_something(
        steps in arb_steps(40)
    ) {
        let (_, _, accepted) = run(steps);
        for (before, _, events) in accepted {
            let mut state = before;
            for event in &events {
                match event {
                    TicketEvent::Assigned { assignee, .. } => prop_assert_ne!(state.assignee, Some(*assignee)),
                    TicketEvent::StatusChanged { status, .. } => {
                        prop_assert_ne!(state.status, Some(*status));
                        prop_assert_ne!(*status, TicketStatus::New);
                    }
                    TicketEvent::PriorityChanged { priority, .. } => prop_assert_ne!(state.priority, Some(*priority)),
                    TicketEvent::Escalated { level, .. } => {
                        prop_assert!(state.escalation.as_ref().is_none_or(|current| current.level < *level));
                    }
                    TicketEvent::Reopened { .. } => prop_assert_eq!(state.status, Some(TicketStatus::Solved)),
                    TicketEvent::Opened { .. } | TicketEvent::AgentReplied { .. } | TicketEvent::CustomerReplied { .. } => {}
                    TicketEvent::CustomFieldsSet(set) => prop_assert!(!set.set.is_empty() || !set.cleared.is_empty()),
                }
                state = state.evolve(event);
            }
        }
    }

    #[test]
    fn the_customer_is_never_left_waiting_in_a_paused_status_after_writing(
        steps in arb_steps(40)
    ) {
        let (_, _, accepted) = run(steps);
        for (before, command, events) in accepted {
            if matches!(command, TicketCommand::RecordCustomerReply { .. }) {
                let after = events.iter().fold(before, Aggregate::evolve);
                prop_assert!(matches!(after.status, Some(TicketStatus::New | TicketStatus::Open)));
            }
        }
    }

    #[test]
    fn work_by_a_person_never_leaves_a_ticket_new(
        steps in arb_steps(40)
    ) {
        let (_, _, accepted) = run(steps);
        for (before, _, events) in accepted {
            let worked = events.iter().any(|event| {
                matches!(event, TicketEvent::Assigned { by, .. } | TicketEvent::AgentReplied { by, .. } if !is_automated(by))
            });
            let after = events.iter().fold(before, Aggregate::evolve);
            if worked {
                prop_assert_ne!(after.status, Some(TicketStatus::New));
            }
        }
    }
}

#[test]
fn custom_fields_are_validated_set_cleared_and_folded() {
    crate::custom_fields::fixtures::check_custom_fields::<Ticket>(
        EntityKind::Ticket,
        &[opened()],
        TicketCommand::SetCustomFields,
        |state| &state.custom,
        |error| match error {
            TicketError::CustomFields(refused) => Some(refused),
            _ => None,
        },
    );
}
