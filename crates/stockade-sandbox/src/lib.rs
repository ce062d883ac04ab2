//! stockade-sandbox (being built; see ARCHITECTURE.md).
