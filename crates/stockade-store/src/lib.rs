//! stockade-store (being built; see ARCHITECTURE.md).
