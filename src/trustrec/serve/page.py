"""Security headers of the web page: a Content-Security-Policy pinned to its own code.

The page's one inline ``<script>`` and ``<style>`` are allowed by their SHA-256 (computed
from the file served, so the policy cannot drift from the page); nothing else may run,
load, frame the page or be sniffed into another type.
"""

from __future__ import annotations

import base64
import hashlib
import re

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _sources(html: str, tag: str) -> str:
    digests = [base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
               for kind, body in _INLINE.findall(html) if kind == tag]
    return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"


def page_headers(html: str) -> dict[str, str]:
    """Headers for serving ``html``: CSP (its inline code by hash, calls to this origin
    only), no framing, no MIME sniffing, no referrer."""
    policy = (f"default-src 'none'; script-src {_sources(html, 'script')}; "
              f"style-src {_sources(html, 'style')}; connect-src 'self'; img-src 'self'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
