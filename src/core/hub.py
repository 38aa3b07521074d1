"""Whether the Hugging Face Hub can be reached, asked once before any download is tried.

Without this check an offline run of a Hub id spends half a minute in the libraries' retries
before it fails with a message about their caches.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
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


# The libraries' offline switches, set when the Hub cannot be reached.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_went_offline = False  # whether go_offline_if_unreachable set them (not the user)


def go_offline_if_unreachable() -> None:
    """Set the libraries' offline mode when the Hub cannot be reached.

    Without it peft and transformers still try the Hub for files of a local model and log
    "Unable to fetch remote file ... Name or service not known" warnings into every train log.
    """
    global _went_offline
    if hub_reachable() or os.environ.get("HF_HUB_OFFLINE"):
        return
    _went_offline = True
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported already: it read the variable at import
        constants.HF_HUB_OFFLINE = True


def unreachable_hint() -> str:
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)
    user_set = os.environ.get("HF_HUB_OFFLINE") and not _went_offline
    reason = "HF_HUB_OFFLINE is set" if user_set else f"{endpoint} cannot be reached"
    return f"The Hugging Face Hub is unreachable ({reason})"
