//! Rebuilds the crate when the console bundle changes: `include_dir!` does not tell Cargo which
//! files it read.
fn main() {
    println!("cargo:rerun-if-changed=console");
}
