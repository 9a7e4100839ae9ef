//! Writes every target's seed inputs into `fuzz/corpus/<target>/seed-<name>`
//! (run after changing a seed or an input format):
//! `cargo run -p argus-fuzz --example write-seeds`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (target, name, bytes) in argus_fuzz::seeds() {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    println!("seeds written under {}", corpus.display());
    Ok(())
}
