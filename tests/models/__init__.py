"""Small models for end-to-end tests (random weights, no downloads)."""
