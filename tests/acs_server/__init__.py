"""HTTPS test double of Azure Communication Services (Identity + Chat REST) for the real SDKs.

See :class:`AcsTestServer` (server.py) for usage, certificate trust, data API, faults and request log.
"""

from .certs import CertBundle, default_bundle
from .faults import FaultRule, Faults, RequestLog, RequestRecord
from .server import AcsTestServer
from .state import ApiError, fmt_time, parse_time

__all__ = [
    "AcsTestServer",
    "ApiError",
    "CertBundle",
    "FaultRule",
    "Faults",
    "RequestLog",
    "RequestRecord",
    "default_bundle",
    "fmt_time",
    "parse_time",
]
