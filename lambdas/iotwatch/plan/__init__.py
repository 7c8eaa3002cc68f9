"""The monitoring plan: model, validation and expansion into series."""
