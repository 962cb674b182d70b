//! Rebuilds this crate when a migration is added or changed: `embed_migrations!` reads the
//! migration directories at compile time, and cargo does not know about them otherwise.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
