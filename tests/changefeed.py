"""A blob change feed written as Azure writes it, for tests and benchmarks (Azurite has none: Azure/Azurite issue 1349).

The format's source: MicrosoftDocs/azure-docs ``articles/storage/blobs/storage-blob-change-feed.md`` ("Specifications":
``meta/segments.json`` with ``lastConsumable``; ``idx/segments/<yyyy>/<MM>/<dd>/<hhmm>/meta.json`` per hourly segment,
its ``chunkFilePaths`` naming the shards as ``$blobchangefeed/log/<shard>/<yyyy>/<MM>/<dd>/<hhmm>/``; Avro chunk files
below; "Event record schema": the fields of a record, schema version 1), and the SDK's reader
(Azure/azure-sdk-for-python ``sdk/storage/azure-storage-blob-changefeed/azure/storage/blob/changefeed/_models.py``:
the paths it lists and how it strips ``$blobchangefeed/`` from a shard path).  MIT-licensed SDK, CC-BY docs; only the
layout is taken, no code.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

from archiving.integrity import feed as feed_mod

# The change-feed record as the docs' "Event record schema" shows it (schema version 1), as an Avro record schema.
RECORD_SCHEMA = {
    "type": "record", "name": "BlobChangeEvent", "namespace": "com.microsoft.azure.storage.blob",
    "fields": [
        {"name": "schemaVersion", "type": "int"},
        {"name": "topic", "type": "string"},
        {"name": "subject", "type": "string"},
        {"name": "eventType", "type": {"type": "enum", "name": "BlobChangeEventType", "symbols": [
            "BlobCreated", "BlobDeleted", "BlobPropertiesUpdated", "BlobSnapshotCreated"]}},
        {"name": "eventTime", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "data", "type": {"type": "record", "name": "BlobChangeEventData", "fields": [
            {"name": "api", "type": "string"},
            {"name": "clientRequestId", "type": "string"},
            {"name": "requestId", "type": "string"},
            {"name": "etag", "type": "string"},
            {"name": "contentType", "type": "string"},
            {"name": "contentLength", "type": "long"},
            {"name": "blobType", "type": "string"},
            {"name": "url", "type": "string"},
            {"name": "sequencer", "type": "string"},
            {"name": "storageDiagnostics", "type": {"type": "map", "values": "string"}},
        ]}},
    ],
}
TOPIC = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/" \
        "storageAccounts/devstoreaccount1"


class FeedWriter:
    """Writes a change feed as Azure lays it out: meta/segments.json, one meta.json per hourly segment naming its
    shards, Avro chunk files per shard under log/."""

    def __init__(self, blob_service):
        self.service = blob_service
        self.container = blob_service.get_container_client(feed_mod.FEED_CONTAINER)
        self.sequencer = 0

    def record(self, event_type: str, container: str, name: str, at: datetime | None = None,
               api: str = "PutBlob") -> dict:
        self.sequencer += 1
        at = at or datetime.now(UTC)
        return {
            "schemaVersion": 1, "topic": TOPIC,
            "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "eventType": event_type, "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"), "id": str(uuid.uuid4()),
            "data": {"api": api if event_type == "BlobCreated" else "DeleteBlob", "clientRequestId": str(uuid.uuid4()),
                     "requestId": str(uuid.uuid4()), "etag": "0x8D9F2171BE32588",
                     "contentType": "application/octet-stream", "contentLength": 128, "blobType": "BlockBlob",
                     "url": "", "sequencer": f"{self.sequencer:048x}",
                     "storageDiagnostics": {"bid": str(uuid.uuid4()), "seq": f"({self.sequencer},0)", "sid": "x"}},
        }

    def created(self, svc_container, names) -> list[dict]:
        """BlobCreated records of these blobs of a container, at their creation times."""
        created = {b.name: b.creation_time for b in svc_container.list_blobs()}  # one listing, not a HEAD each
        return [self.record("BlobCreated", svc_container.container_name, name, created[name]) for name in names]

    def segment(self, hour: datetime, shards: list[list[list[dict]]], status: str = "Finalized") -> str:
        """Segment of ``hour``: shards, each a list of chunks, each a list of records."""
        import fastavro

        stamp = f"{hour:%Y/%m/%d/%H}00"
        paths = []
        for i, chunks in enumerate(shards):
            shard = f"log/{i:02d}/{stamp}/"
            paths.append(f"{feed_mod.FEED_CONTAINER}/{shard}")
            for j, records in enumerate(chunks):
                buf = io.BytesIO()
                fastavro.writer(buf, RECORD_SCHEMA, records, codec="deflate")
                self.container.upload_blob(f"{shard}{j:05d}.avro", buf.getvalue(), overwrite=True)
        meta = {"version": 0, "begin": f"{hour:%Y-%m-%dT%H:%M:%S.000Z}", "intervalSecs": 3600, "status": status,
                "config": {"version": 0, "configVersionEtag": "0x8d9a6d9d8ef95d6", "numShards": len(shards),
                           "recordsFormat": "avro", "formatSchemaVersion": 1, "shardDistFnVersion": 1},
                "chunkFilePaths": paths, "storageDiagnostics": {"version": 0, "lastModifiedTime": "x", "data": {}}}
        path = f"{feed_mod.SEGMENT_PREFIX}{stamp}/meta.json"
        self.container.upload_blob(path, json.dumps(meta).encode(), overwrite=True)
        return path

    def consumable(self, hour: datetime) -> None:
        doc = {"version": 0, "lastConsumable": f"{hour:%Y-%m-%dT%H:%M:%S.000Z}",
               "storageDiagnostics": {"version": 0, "lastModifiedTime": "x", "data": {}}}
        self.container.upload_blob(feed_mod.SEGMENTS_META, json.dumps(doc).encode(), overwrite=True)
