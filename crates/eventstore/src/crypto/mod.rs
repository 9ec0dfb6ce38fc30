//! Crypto-shredding: per-data-subject keys and field encryption, so that deleting a subject's
//! key makes their personal fields unreadable for good while events and hash chains stay intact.
