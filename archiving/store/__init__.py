"""The archive on Blob Storage: blob names and layout (keys), the lz4/JSON codec, records and the
keyed user hash, create-only writes (ArchiveStore), JSON Schemas, and reading a blob back intact."""
