//! End-to-end tests: the real `plugboard` binary, a real SQLite file, a real PostgreSQL (when
//! `PLUGBOARD_TEST_DATABASE_URL` is set), real signals and real HTTP. One module per capability.

mod api_auth;
mod authors;
mod bad_input;
mod cli_plugins;
mod cli_profiles;
mod cli_remote;
mod consent;
mod crash;
mod doctor;
mod fairness;
mod harness;
mod hostile;
mod hostile_packages;
mod install;
mod mcp;
mod multinode;
mod plugins;
mod routes;
mod schedules;
mod serve;
mod streams;
