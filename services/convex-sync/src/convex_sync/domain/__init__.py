"""Pure logic of convex-sync: event -> Convex document, and the retry policy (no I/O)."""
