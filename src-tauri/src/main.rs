//! The `argus` desktop binary: one call into the library so tests can drive the same code.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    argus_app::main();
}
