//! plugboard: a plugin host and persistent job engine.
//!
//! The library behind the `plugboard` binary. Data flows one way: `cli` (and later `api`) call
//! `queue`; `queue` calls `store`; only `store` speaks SQL. See ARCHITECTURE.md at the root of
//! the repository for the map.

pub mod queue;
pub mod store;
