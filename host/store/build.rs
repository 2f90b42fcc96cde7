// `sqlx::migrate!` embeds the files of `migrations/` when this crate compiles; a file added
// there must make it compile again.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
