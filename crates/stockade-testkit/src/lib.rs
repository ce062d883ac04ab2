//! stockade-testkit (being built; see ARCHITECTURE.md).
