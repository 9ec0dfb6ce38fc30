//! How deeply free-form JSON may nest in the domain, measured and disposed of without recursion.
//!
//! Some commands carry JSON exactly as it arrived from outside (a lead's raw payload). serde_json
//! parses text at most 127 levels deep, but a value can also be built in code, and serde_json
//! serializes, deserializes and even drops a value by recursing once per level: a value nested a
//! few tens of thousands of levels deep overflows the stack. The event store refuses payloads
//! nested deeper than 127 levels, so a deeper event could never be stored, nor read back.
//!
//! So `decide` refuses free-form JSON nested deeper than [`MAX_JSON_DEPTH`], `encode` refuses an
//! event whose free-form JSON is that deep ([`DomainEvent::free_form_json`]), and both measure
//! with [`nests_deeper_than`], which never recurses.
//!
//! Depth counts containers: a scalar is 0, `[]` and `{}` are 1, `[[1]]` and `{"a": [1]}` are 2.
//!
//! [`DomainEvent::free_form_json`]: crate::DomainEvent::free_form_json

use serde_json::Value;

/// The deepest nesting the domain accepts in JSON that comes from outside (a command's free-form
/// payload), with depth counted as the [module documentation](self) says.
///
/// Well under the event store's 127 levels: the payload is stored inside the event's own fields,
/// and the room left keeps it readable whatever an envelope or a later schema wraps around it.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether `value` nests deeper than `limit` levels.
///
/// Walks the value with an explicit stack and stops as soon as the limit is passed, so it never
/// recurses, holds at most `limit + 1` levels at a time, and never looks below level
/// `limit + 1`, however deep the value goes. Never panics.
pub fn nests_deeper_than(value: &Value, limit: usize) -> bool {
    let Some(children) = Children::of(value) else {
        return false;
    };
    // The stack holds one iterator per open container; its length is the depth of the
    // container whose children are being visited.
    let mut open = vec![children];
    if open.len() > limit {
        return true;
    }
    while let Some(siblings) = open.last_mut() {
        let Some(child) = siblings.next() else {
            open.pop();
            continue;
        };
        if let Some(grandchildren) = Children::of(child) {
            open.push(grandchildren);
            if open.len() > limit {
                return true;
            }
        }
    }
    false
}

/// Drops `value` without recursing, however deep it is.
///
/// Dropping a `serde_json::Value` the ordinary way recurses once per level, so a value built
/// deeper than the stack allows crashes the process when it goes out of scope. This takes
/// containers apart one at a time instead, moving their children onto a heap-allocated list,
/// so no container is ever dropped while it still holds another.
pub fn dismantle(value: Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(members) => pending.extend(members.into_iter().map(|(_, item)| item)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
}

/// The children of a container, whichever kind it is.
enum Children<'a> {
    Array(std::slice::Iter<'a, Value>),
    Object(serde_json::map::Values<'a>),
}

impl<'a> Children<'a> {
    /// The children of `value`, or `None` for a scalar.
    fn of(value: &'a Value) -> Option<Self> {
        match value {
            Value::Array(items) => Some(Self::Array(items.iter())),
            Value::Object(members) => Some(Self::Object(members.values())),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => None,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Array(items) => items.next(),
            Self::Object(members) => members.next(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// `[[[…[]…]]]`, `depth` levels deep, built without recursion.
    pub(crate) fn nested_arrays(depth: usize) -> Value {
        let mut value = Value::Array(vec![]);
        for _ in 1..depth {
            value = Value::Array(vec![value]);
        }
        value
    }

    /// The depth of `value`, measured by recursing (only for the shallow values tests build).
    fn depth_by_recursion(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth_by_recursion).max().unwrap_or(0),
            Value::Object(members) => {
                1 + members.values().map(depth_by_recursion).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    #[test]
    fn a_scalar_has_no_depth() {
        for scalar in [json!(null), json!(true), json!(1.5), json!("deep")] {
            assert!(!nests_deeper_than(&scalar, 0));
        }
    }

    #[test]
    fn an_empty_container_is_one_level_deep() {
        for empty in [json!([]), json!({})] {
            assert!(nests_deeper_than(&empty, 0));
            assert!(!nests_deeper_than(&empty, 1));
        }
    }

    #[test]
    fn each_nested_container_adds_a_level() {
        assert!(nests_deeper_than(&json!([[1]]), 1));
        assert!(!nests_deeper_than(&json!([[1]]), 2));
        assert!(nests_deeper_than(&json!({"a": [1]}), 1));
        assert!(!nests_deeper_than(&json!({"a": [1]}), 2));
    }

    #[test]
    fn the_deepest_branch_counts_wherever_it_is() {
        let value = json!({"a": 1, "b": [1, 2, {"c": []}], "d": {}});
        assert!(!nests_deeper_than(&value, 4));
        assert!(nests_deeper_than(&value, 3));
        let value = json!([[], [], [[[]]]]);
        assert!(!nests_deeper_than(&value, 4));
        assert!(nests_deeper_than(&value, 3));
    }

    #[test]
    fn the_store_limit_of_127_levels_is_met_exactly() {
        assert!(!nests_deeper_than(&nested_arrays(127), 127));
        assert!(nests_deeper_than(&nested_arrays(128), 127));
        assert!(!nests_deeper_than(&nested_arrays(128), 128));
    }

    #[test]
    fn the_domain_limit_is_met_exactly() {
        assert!(!nests_deeper_than(
            &nested_arrays(MAX_JSON_DEPTH),
            MAX_JSON_DEPTH
        ));
        assert!(nests_deeper_than(
            &nested_arrays(MAX_JSON_DEPTH + 1),
            MAX_JSON_DEPTH
        ));
    }

    #[test]
    fn a_value_far_deeper_than_the_stack_allows_is_measured_and_dropped() {
        let deep = nested_arrays(100_000);
        let measured = [
            nests_deeper_than(&deep, MAX_JSON_DEPTH),
            nests_deeper_than(&deep, 99_999),
            nests_deeper_than(&deep, 100_000),
        ];
        // Dropping it the ordinary way would overflow the stack, so it is taken apart before
        // any assertion could fail and unwind through it.
        dismantle(deep);
        assert_eq!(measured, [true, true, false]);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(8, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_walk_agrees_with_the_recursive_depth(value in arb_json(), limit in 0usize..10) {
            prop_assert_eq!(nests_deeper_than(&value, limit), depth_by_recursion(&value) > limit);
        }
    }
}
