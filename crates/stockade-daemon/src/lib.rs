//! stockade-daemon (being built; see ARCHITECTURE.md).
