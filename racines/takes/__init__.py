"""Takes: immutable versions of a shot's media, with manifests, written atomically."""
