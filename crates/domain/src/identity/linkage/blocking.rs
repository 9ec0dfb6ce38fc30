//! Blocking: which pairs are compared at all. Several passes, each putting together records
//! that share a key, so that a record with a swapped name, a typo in the first letter or a
//! missing given name still meets its twin in some pass; plus a sorted neighbourhood on the
//! names, which pairs records whose names sort close together.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::compare::Field;
use super::person::PersonRecord;

/// One blocking pass: records with equal keys of the pass are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockingPass {
    /// The sound of either name (given or family, so a swap still meets) and the birth year.
    NameSoundBirthYear,
    /// The family name's sound and the postcode's district (for records without a birth
    /// date).
    FamilySoundDistrict,
    /// The first two letters of the given name and the postcode.
    GivenPrefixPostcode,
    /// The date of birth, with day and month in either order.
    DateOfBirth,
    /// A national or customer identifier.
    NationalId,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
}

impl BlockingPass {
    /// Every key-based pass.
    pub const ALL: [BlockingPass; 7] = [
        BlockingPass::NameSoundBirthYear,
        BlockingPass::FamilySoundDistrict,
        BlockingPass::GivenPrefixPostcode,
        BlockingPass::DateOfBirth,
        BlockingPass::NationalId,
        BlockingPass::Email,
        BlockingPass::Phone,
    ];

    /// The fields the pass blocks on: among its pairs they agree by construction, so its
    /// pairs cannot teach how often they agree.
    pub fn fields(self) -> &'static [Field] {
        match self {
            BlockingPass::NameSoundBirthYear => {
                &[Field::GivenName, Field::FamilyName, Field::DateOfBirth]
            }
            BlockingPass::FamilySoundDistrict => &[Field::FamilyName, Field::Address],
            BlockingPass::GivenPrefixPostcode => &[Field::GivenName, Field::Address],
            BlockingPass::DateOfBirth => &[Field::DateOfBirth],
            BlockingPass::NationalId => &[Field::NationalId],
            BlockingPass::Email => &[Field::Email],
            BlockingPass::Phone => &[Field::Phone],
        }
    }

    fn tag(self) -> &'static str {
        match self {
            BlockingPass::NameSoundBirthYear => "ny",
            BlockingPass::FamilySoundDistrict => "fd",
            BlockingPass::GivenPrefixPostcode => "gp",
            BlockingPass::DateOfBirth => "db",
            BlockingPass::NationalId => "id",
            BlockingPass::Email => "em",
            BlockingPass::Phone => "ph",
        }
    }
}

/// A blocking key: the pass and its text (`ny:SM0:1980`). An index stores records under
/// their keys; two records are candidates if they share one.
pub type BlockKey = String;

/// How blocking runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingSettings {
    /// The key-based passes.
    pub passes: Vec<BlockingPass>,
    /// A block with more records than this is passed over (a key everyone shares tells
    /// nothing, and would cost a comparison of every pair in it); reported, never silent.
    pub max_block_size: usize,
    /// Sorted neighbourhood: each record is compared with this many records after it in
    /// name order (family then given, and given then family). 0 turns it off.
    pub window: usize,
}

impl Default for BlockingSettings {
    fn default() -> Self {
        Self {
            passes: BlockingPass::ALL.to_vec(),
            max_block_size: 400,
            window: 4,
        }
    }
}

/// The blocking keys of a record under the given passes.
pub fn blocking_keys(record: &PersonRecord, passes: &[BlockingPass]) -> Vec<BlockKey> {
    let mut keys = Vec::new();
    for &pass in passes {
        let tag = pass.tag();
        match pass {
            BlockingPass::NameSoundBirthYear => {
                if let Some(year) = record.birth_year() {
                    for sound in [&record.given_sound, &record.family_sound]
                        .into_iter()
                        .flatten()
                    {
                        keys.push(format!("{tag}:{}:{year}", sound.0));
                    }
                }
            }
            BlockingPass::FamilySoundDistrict => {
                if let (Some(sound), Some(postcode)) =
                    (&record.family_sound, &record.address.postcode)
                {
                    let district: String = postcode.chars().take(3).collect();
                    keys.push(format!("{tag}:{}:{district}", sound.0));
                }
            }
            BlockingPass::GivenPrefixPostcode => {
                if let (Some(given), Some(postcode)) =
                    (&record.given_name, &record.address.postcode)
                {
                    let prefix: String = given.chars().take(2).collect();
                    keys.push(format!("{tag}:{prefix}:{postcode}"));
                }
            }
            BlockingPass::DateOfBirth => {
                if let Some(date) = record.date_of_birth {
                    let (low, high) = if date.day() < date.month() {
                        (date.day(), date.month())
                    } else {
                        (date.month(), date.day())
                    };
                    keys.push(format!("{tag}:{}:{low}:{high}", date.year()));
                }
            }
            BlockingPass::NationalId => {
                keys.extend(record.national_ids.iter().map(|id| format!("{tag}:{id}")));
            }
            BlockingPass::Email => {
                keys.extend(record.emails.iter().map(|e| format!("{tag}:{e}")));
            }
            BlockingPass::Phone => {
                keys.extend(record.phones.iter().map(|p| format!("{tag}:{p}")));
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The texts a record is sorted by for the sorted neighbourhood: `family given` and
/// `given family`, when the record has a name.
pub fn name_sort_keys(record: &PersonRecord) -> Vec<String> {
    let given = record.given_name.as_deref().unwrap_or("");
    let family = record.family_name.as_deref().unwrap_or("");
    if given.is_empty() && family.is_empty() {
        return Vec::new();
    }
    vec![format!("{family} {given}"), format!("{given} {family}")]
}

/// The pairs blocking selects, and what it passed over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CandidatePairs {
    /// Pairs of indices, each once, the smaller index first (for two files: left, right).
    pub pairs: Vec<(u32, u32)>,
    /// Blocks passed over for being larger than [`BlockingSettings::max_block_size`].
    pub oversized_blocks: usize,
}

fn key_hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

fn pack(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

fn unpack(pair: u64) -> (u32, u32) {
    // Both halves fit by construction.
    #[allow(clippy::cast_possible_truncation)]
    ((pair >> 32) as u32, pair as u32)
}

/// Index as u32: blocking handles at most `u32::MAX` records per side.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The candidate pairs within one file (deduplication).
pub fn candidate_pairs(records: &[PersonRecord], settings: &BlockingSettings) -> CandidatePairs {
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(records.len() * 6);
    for (i, record) in records.iter().enumerate() {
        for key in blocking_keys(record, &settings.passes) {
            entries.push((key_hash(&key), index(i)));
        }
    }
    entries.sort_unstable();
    let mut pairs: Vec<u64> = Vec::new();
    let mut oversized_blocks = 0;
    for block in entries.chunk_by(|a, b| a.0 == b.0) {
        if block.len() > settings.max_block_size {
            oversized_blocks += 1;
            continue;
        }
        for (n, a) in block.iter().enumerate() {
            for b in &block[n + 1..] {
                if a.1 != b.1 {
                    pairs.push(pack(a.1.min(b.1), a.1.max(b.1)));
                }
            }
        }
    }
    if settings.window > 0 {
        let mut sorted: Vec<(String, u32)> = records
            .iter()
            .enumerate()
            .flat_map(|(i, r)| name_sort_keys(r).into_iter().map(move |k| (k, index(i))))
            .collect();
        sorted.sort_unstable();
        for (n, (_, a)) in sorted.iter().enumerate() {
            for (_, b) in sorted.iter().skip(n + 1).take(settings.window) {
                if a != b {
                    pairs.push(pack(*a.min(b), *a.max(b)));
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    CandidatePairs {
        pairs: pairs.into_iter().map(unpack).collect(),
        oversized_blocks,
    }
}

/// The candidate pairs between two files (linkage): each pair is (left index, right index).
pub fn candidate_links(
    left: &[PersonRecord],
    right: &[PersonRecord],
    settings: &BlockingSettings,
) -> CandidatePairs {
    // Side 0 is left, side 1 right; a block pairs every left entry with every right one.
    let mut entries: Vec<(u64, u8, u32)> = Vec::with_capacity((left.len() + right.len()) * 6);
    for (side, records) in [(0u8, left), (1u8, right)] {
        for (i, record) in records.iter().enumerate() {
            for key in blocking_keys(record, &settings.passes) {
                entries.push((key_hash(&key), side, index(i)));
            }
        }
    }
    entries.sort_unstable();
    let mut pairs: Vec<u64> = Vec::new();
    let mut oversized_blocks = 0;
    for block in entries.chunk_by(|a, b| a.0 == b.0) {
        let split = block.partition_point(|entry| entry.1 == 0);
        let (lefts, rights) = block.split_at(split);
        if lefts.len() * rights.len() > settings.max_block_size * settings.max_block_size / 2 {
            oversized_blocks += 1;
            continue;
        }
        for a in lefts {
            for b in rights {
                pairs.push(pack(a.2, b.2));
            }
        }
    }
    if settings.window > 0 {
        let mut sorted: Vec<(String, u8, u32)> = Vec::new();
        for (side, records) in [(0u8, left), (1u8, right)] {
            for (i, record) in records.iter().enumerate() {
                for key in name_sort_keys(record) {
                    sorted.push((key, side, index(i)));
                }
            }
        }
        sorted.sort_unstable();
        for (n, a) in sorted.iter().enumerate() {
            for b in sorted.iter().skip(n + 1).take(settings.window) {
                match (a.1, b.1) {
                    (0, 1) => pairs.push(pack(a.2, b.2)),
                    (1, 0) => pairs.push(pack(b.2, a.2)),
                    _ => {}
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    CandidatePairs {
        pairs: pairs.into_iter().map(unpack).collect(),
        oversized_blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CountryCode;
    use crate::identity::linkage::person::PersonDetails;

    fn person(given: &str, family: &str, dob: &str, postcode: &str) -> PersonRecord {
        let details = PersonDetails {
            given_name: (!given.is_empty()).then(|| given.into()),
            family_name: (!family.is_empty()).then(|| family.into()),
            date_of_birth: (!dob.is_empty()).then(|| dob.into()),
            postcode: (!postcode.is_empty()).then(|| postcode.into()),
            ..PersonDetails::default()
        };
        PersonRecord::normalize(&details, CountryCode::new("GB").unwrap()).0
    }

    fn paired(records: &[PersonRecord], a: u32, b: u32) -> bool {
        let settings = BlockingSettings {
            window: 0,
            ..BlockingSettings::default()
        };
        candidate_pairs(records, &settings).pairs.contains(&(a, b))
    }

    #[test]
    fn a_swapped_name_still_meets_its_twin() {
        let records = [
            person("Jane", "Smith", "1980-03-04", ""),
            person("Smith", "Jane", "1981-07-04", ""),
        ];
        // Different birth dates except the year; the name sounds meet crosswise.
        assert!(!paired(&records, 0, 1), "years differ");
        let records = [
            person("Jane", "Smith", "1980-03-04", ""),
            person("Smith", "Jane", "1980-07-09", ""),
        ];
        assert!(paired(&records, 0, 1));
    }

    #[test]
    fn a_typo_in_the_first_letter_or_a_missing_given_name_still_meets_its_twin() {
        let records = [
            person("Jane", "Smith", "1980-03-04", "SW1A 1AA"),
            person("Jane", "Xmith", "", "SW1A1AA"),
            person("", "Smith", "1980-04-03", ""),
        ];
        assert!(paired(&records, 0, 1), "given prefix and postcode");
        assert!(paired(&records, 0, 2), "transposed birth date");
    }

    #[test]
    fn sorted_neighbourhood_pairs_close_names() {
        let records = [
            person("Jane", "Smith", "", ""),
            person("Jane", "Smithe", "", ""),
            person("Zed", "Young", "", ""),
        ];
        let settings = BlockingSettings {
            passes: Vec::new(),
            max_block_size: 10,
            window: 1,
        };
        let pairs = candidate_pairs(&records, &settings).pairs;
        assert!(pairs.contains(&(0, 1)));
        assert!(!pairs.contains(&(0, 2)));
    }

    #[test]
    fn oversized_blocks_are_passed_over_and_counted() {
        let records: Vec<_> = (0..5)
            .map(|_| person("Jane", "Smith", "1980-01-01", ""))
            .collect();
        let settings = BlockingSettings {
            max_block_size: 4,
            window: 0,
            ..BlockingSettings::default()
        };
        let result = candidate_pairs(&records, &settings);
        assert!(result.pairs.is_empty());
        assert!(result.oversized_blocks > 0);
    }

    #[test]
    fn linkage_pairs_only_cross_the_files() {
        let left = [person("Jane", "Smith", "1980-03-04", "")];
        let right = [
            person("Jane", "Smith", "1980-03-04", ""),
            person("Jane", "Smith", "1980-03-04", ""),
        ];
        let pairs = candidate_links(&left, &right, &BlockingSettings::default()).pairs;
        assert_eq!(pairs, [(0, 0), (0, 1)]);
    }
}
