//! plugboard: a plugin host and persistent job engine.
//!
//! The library behind the `plugboard` binary. Data flows one way: `cli` and `api` call `queue`;
//! `queue` calls `store`; only `store` speaks SQL. ARCHITECTURE.md at the root of the repository
//! is the map.

pub mod api;
pub mod bench;
pub mod cli;
pub mod events;
pub mod nodes;
pub mod plugins;
pub mod queue;
pub mod runtime;
pub mod schedule;
pub mod settings;
pub mod store;
pub mod tenants;
pub mod words;
