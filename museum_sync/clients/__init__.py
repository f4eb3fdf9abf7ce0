"""Adapters to the systems museum-sync talks to: one module per system."""
