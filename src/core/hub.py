"""Whether the Hugging Face Hub can be reached, asked once before any download is tried.

Without this check an offline run of a Hub id spends half a minute in the libraries' retries
before it fails with a message about their caches.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

DEFAULT_ENDPOINT = "https://huggingface.co"


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def unreachable_hint() -> str:
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)
    reason = "HF_HUB_OFFLINE is set" if os.environ.get("HF_HUB_OFFLINE") else f"{endpoint} cannot be reached"
    return f"The Hugging Face Hub is unreachable ({reason})"
