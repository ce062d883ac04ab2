//! stockade-engine (being built; see ARCHITECTURE.md).
