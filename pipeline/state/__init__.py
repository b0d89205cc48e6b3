"""What persists between builds: the manifest, atomic outputs, the lock, cleanup."""
