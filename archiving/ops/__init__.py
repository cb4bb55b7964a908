"""Running the archiver unattended: parseable log fields for alerts, and the ``status`` checks.

Owns the form of the outcome log lines that the Azure Monitor alerts and the workbook query
(``logfields``) and the one-screen health check of an archive (``status``).  Depends on
``archiving.store`` and the top-level modules only.
"""
