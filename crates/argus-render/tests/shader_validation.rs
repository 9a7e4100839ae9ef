//! Parses and validates every WGSL shader with naga; needs no GPU.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

fn validate(name: &str, source: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)));
}

#[test]
fn every_embedded_shader_validates() {
    assert!(!argus_render::gpu::SHADERS.is_empty());
    for (name, source) in argus_render::gpu::SHADERS {
        validate(name, source);
    }
}

#[test]
fn every_shader_file_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shaders");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    files.sort();
    let mut embedded: Vec<String> = argus_render::gpu::SHADERS.iter().map(|(n, _)| (*n).to_owned()).collect();
    embedded.sort();
    assert_eq!(files, embedded, "shader files on disk vs gpu::SHADERS");
    for name in files {
        let source = std::fs::read_to_string(dir.join(&name)).unwrap();
        validate(&name, &source);
    }
}

#[test]
fn a_broken_shader_is_caught() {
    let broken = argus_render::gpu::SHADERS[0].1.replace("fn id_at(p: vec2<i32>) -> u32 {", "fn id_at(p: vec2<i32>) -> f32 {");
    let parsed = naga::front::wgsl::parse_str(&broken);
    let valid = parsed.map(|m| {
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
            .validate(&m)
            .is_ok()
    });
    assert!(!matches!(valid, Ok(true)), "a type error must not validate");
}
