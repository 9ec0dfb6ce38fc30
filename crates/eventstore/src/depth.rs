//! How deeply JSON may nest: one limit at every door of the store.
//!
//! serde_json parses at most 127 levels of nesting by default (its recursion limit is 128),
//! but it serializes any depth by recursing, so a value nested tens of thousands of levels
//! deep overflows the stack while it is being written. The store therefore measures every
//! value it is handed *without recursing*, before serializing it, and refuses one nested
//! deeper than [`MAX_JSON_DEPTH`] with [`StoreError::TooDeep`](crate::StoreError::TooDeep).
//! Whatever it accepts is readable by every read path, which parse with serde_json's default
//! limit.
//!
//! Depth counts containers: a scalar is 0, `[]` and `{}` are 1, `[[1]]` is 2, and
//! `{"a": [1]}` is 2.

use serde_json::Value;

/// The deepest nesting the store accepts in a payload, in metadata or in a snapshot state:
/// the deepest serde_json reads back with its default recursion limit.
///
/// [`StoreSettings::max_json_depth`](crate::StoreSettings::max_json_depth) may lower it, never
/// raise it: a deeper value would be stored and then be unreadable.
pub const MAX_JSON_DEPTH: usize = 127;

/// Whether `value` nests no deeper than `limit` levels. Walks with an explicit stack and stops
/// as soon as the limit is passed, so it never recurses and never goes deeper than `limit + 1`
/// levels into any branch.
pub fn within_depth(value: &Value, limit: usize) -> bool {
    let Some(children) = Children::of(value) else {
        return true;
    };
    if limit == 0 {
        return false;
    }
    // Each entry: a container's children still to visit, and that container's depth.
    let mut stack: Vec<(Children<'_>, usize)> = vec![(children, 1)];
    while let Some((children, depth)) = stack.last_mut() {
        let depth = *depth;
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        if let Some(grandchildren) = Children::of(child) {
            if depth >= limit {
                return false;
            }
            stack.push((grandchildren, depth + 1));
        }
    }
    true
}

/// How deeply the JSON text `bytes` nests (containers opened, outside strings), scanning the
/// bytes once without recursing. Meaningful for valid JSON; for anything else it is a bound.
pub fn text_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0_usize, 0_usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                (false, _) => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
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
            Value::Object(map) => Some(Self::Object(map.values())),
            _ => None,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Array(items) => items.next(),
            Self::Object(values) => values.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `depth` arrays nested in one another, built without recursion.
    fn nested(depth: usize) -> Value {
        let mut value = json!(1);
        for _ in 0..depth {
            value = Value::Array(vec![value]);
        }
        value
    }

    /// Takes a deep value apart without recursing (its `Drop` would recurse).
    fn dismantle(mut value: Value) {
        loop {
            value = match value {
                Value::Array(mut items) => match items.pop() {
                    Some(inner) => inner,
                    None => return,
                },
                _ => return,
            };
        }
    }

    #[test]
    fn depth_counts_containers() {
        assert!(within_depth(&json!(1), 0));
        assert!(!within_depth(&json!([]), 0));
        assert!(within_depth(&json!([]), 1));
        assert!(within_depth(&json!({"a": [1]}), 2));
        assert!(!within_depth(&json!({"a": [1]}), 1));
        assert!(!within_depth(&json!([1, 2, {"a": {"b": []}}]), 3));
        assert!(within_depth(&json!([1, 2, {"a": {"b": []}}]), 4));
    }

    #[test]
    fn the_limit_is_exactly_what_serde_json_reads_back() {
        for depth in [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1] {
            let value = nested(depth);
            let text = serde_json::to_string(&value).expect("shallow enough to serialize");
            let readable = serde_json::from_str::<Value>(&text).is_ok();
            assert_eq!(
                within_depth(&value, MAX_JSON_DEPTH),
                readable,
                "depth {depth}"
            );
        }
    }

    #[test]
    fn text_depth_skips_brackets_inside_strings() {
        assert_eq!(text_depth(b"1"), 0);
        assert_eq!(text_depth(br#"{"a":[1,{"b":"[[[\"{"}]}"#), 3);
        assert_eq!(text_depth(br#"["\\",[]]"#), 2);
        let deep = serde_json::to_vec(&nested(MAX_JSON_DEPTH)).expect("serializable");
        assert_eq!(text_depth(&deep), MAX_JSON_DEPTH);
    }

    #[test]
    fn a_value_thirty_thousand_levels_deep_is_measured_without_overflowing() {
        let value = nested(30_000);
        assert!(!within_depth(&value, MAX_JSON_DEPTH));
        dismantle(value);
    }
}
