"""The archive on Blob Storage: blob names and layout (keys), the lz4/JSON codec, records and the
keyed user hash, create-only writes (ArchiveStore), JSON Schemas, reading a blob back intact, and the
container listing with tags, metadata, tier and holds that the read side and retention start from."""
