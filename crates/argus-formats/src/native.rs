//! Argus native JSON (being written).
