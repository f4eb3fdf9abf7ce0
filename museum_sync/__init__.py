"""museum-sync: nightly museum collection syncs that never leave a catalogue half updated."""

__version__ = "0.1.0"
