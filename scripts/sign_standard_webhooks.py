#!/usr/bin/env python3
"""Print the `webhook-signature` header value the `standardwebhooks` package computes.

An independent signer for interoperability tests of the Rust verifier.

Usage:
    sign_standard_webhooks.py SECRET WEBHOOK_ID TIMESTAMP PAYLOAD
    sign_standard_webhooks.py < request.json
        where request.json is {"secret": ..., "id": ..., "timestamp": <unix seconds>,
        "payload": <text>}; use stdin for payloads too large for the command line.

The payload is signed as its UTF-8 bytes (the package signs text, not arbitrary bytes).
"""

import json
import sys
from datetime import datetime, timezone

from standardwebhooks import Webhook


def read_request(argv):
    if len(argv) == 5:
        _, secret, webhook_id, timestamp, payload = argv
        return secret, webhook_id, int(timestamp), payload
    if len(argv) == 1:
        request = json.load(sys.stdin)
        return (
            request["secret"],
            request["id"],
            int(request["timestamp"]),
            request["payload"],
        )
    sys.exit(__doc__)


def main():
    secret, webhook_id, timestamp, payload = read_request(sys.argv)
    signed_at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    print(Webhook(secret).sign(webhook_id, signed_at, payload))


if __name__ == "__main__":
    main()
