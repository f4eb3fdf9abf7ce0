"""The steward's Dagster UI, proven in a real browser (headless Chromium from the distribution)."""
