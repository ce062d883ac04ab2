//! stockade-host (being built; see ARCHITECTURE.md).
