"""The read side: scanning and verifying blobs, reassembling conversations, show/export/find/verify/
reconcile."""
