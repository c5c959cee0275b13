//! The SDK's loop driven through in-memory pipes by a test playing the host: every line the
//! plugin writes must decode with `plugboard_protocol::Message::decode`. One module per
//! capability; the harness and the scripted plugin they share are in `harness` and `scripted`.

mod cancel;
mod faults;
mod handshake;
mod harness;
mod host_calls;
mod requests;
mod scripted;
mod shutdown;
