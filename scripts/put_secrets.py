#!/usr/bin/env python3
"""Fills the deployed stack's secret (its SecretsArn output) after `sam deploy`.

TOKEN_SEALING_KEY is generated once (32 random bytes, base64) and never replaced: it decrypts
the OAuth tokens already stored. FATHOM_CLIENT_SECRET, FATHOM_WEBHOOK_SECRET, ZOOM_CLIENT_SECRET,
ZOOM_WEBHOOK_SECRET_TOKEN, TRANSCRIBE_API_KEY and LLM_API_KEY are taken from environment variables of those
names when set, so the values
stay out of arguments and shell history; keys not given keep their value. Values are never
printed. Functions read the secret when they start, so running instances keep the old values
until they are replaced (the next deploy, or a few idle minutes).

Uses boto3 from .venv and the usual AWS credentials; AWS_ENDPOINT_URL points it elsewhere.
"""

import argparse
import base64
import json
import os
import secrets
import sys

import boto3

SEALING_KEY = "TOKEN_SEALING_KEY"
FROM_ENVIRONMENT = (
    "FATHOM_CLIENT_SECRET",
    "FATHOM_WEBHOOK_SECRET",
    "ZOOM_CLIENT_SECRET",
    "ZOOM_WEBHOOK_SECRET_TOKEN",
    "TRANSCRIBE_API_KEY",
    "LLM_API_KEY",
)


def stack_output(stack: str, name: str) -> str:
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)
    for output in described["Stacks"][0].get("Outputs", []):
        if output["OutputKey"] == name:
            return output["OutputValue"]
    sys.exit(f"secrets: stack {stack} has no output {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="callsync", help="the stack's name (default callsync)")
    parser.add_argument("--secret-id", help="the secret's ARN or name, instead of the stack's output")
    args = parser.parse_args()

    secret_id = args.secret_id or stack_output(args.stack, "SecretsArn")
    client = boto3.client("secretsmanager")
    current = json.loads(client.get_secret_value(SecretId=secret_id).get("SecretString") or "{}")
    if not isinstance(current, dict):
        sys.exit(f"secrets: {secret_id} does not hold a JSON object")

    changed = []
    if not current.get(SEALING_KEY):
        current[SEALING_KEY] = base64.b64encode(secrets.token_bytes(32)).decode()
        changed.append(f"{SEALING_KEY} (generated)")
    for key in FROM_ENVIRONMENT:
        value = os.environ.get(key, "").strip()
        if value:
            current[key] = value
            changed.append(key)
        current.setdefault(key, "")

    if changed:
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(current))
        print("secrets: set " + ", ".join(changed))
    else:
        print("secrets: nothing to change")
    empty = [key for key in FROM_ENVIRONMENT if not current.get(key)]
    if empty:
        print("secrets: still empty: " + ", ".join(empty) + " (set them in the environment and run again)")


if __name__ == "__main__":
    main()
