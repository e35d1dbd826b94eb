"""The review queue: held drafts and audit samples, decided once."""
