//! stockade-spec (being built; see ARCHITECTURE.md).
