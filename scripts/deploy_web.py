#!/usr/bin/env python3
"""Uploads the built Import Hub (web/dist) and a generated config.json to the stack's web bucket.

config.json tells the app where the API is (the ApiUrl output, or --api-url for a custom
domain) and how to sign in: OpenID Connect against the stack's JwtIssuer with the JwtAudience
as client id, unless OIDC_AUTHORITY / OIDC_CLIENT_ID (and OIDC_SCOPE) say otherwise. Hashed
assets are cached for a year; index.html and config.json are revalidated, and CloudFront is
asked to drop its copies of them. Older assets stay, so open tabs keep working.

Uses boto3 from .venv and the usual AWS credentials; AWS_ENDPOINT_URL points it elsewhere.
"""

import argparse
import json
import mimetypes
import os
import sys
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def stack(name: str) -> tuple[dict, dict]:
    described = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    return outputs, parameters


def config(outputs: dict, parameters: dict, api_url: str | None) -> dict:
    generated: dict = {"apiBaseUrl": (api_url or outputs["ApiUrl"]).rstrip("/")}
    authority = os.environ.get("OIDC_AUTHORITY") or parameters.get("JwtIssuer")
    client_id = os.environ.get("OIDC_CLIENT_ID") or parameters.get("JwtAudience")
    if authority and client_id:
        generated["oidc"] = {"authority": authority, "clientId": client_id}
        if os.environ.get("OIDC_SCOPE"):
            generated["oidc"]["scope"] = os.environ["OIDC_SCOPE"]
    return generated


def content_type(path: Path) -> str:
    kind, _ = mimetypes.guess_type(path.name)
    if path.suffix in (".js", ".mjs"):
        return "text/javascript; charset=utf-8"
    if kind and (kind.startswith("text/") or kind in ("application/json", "image/svg+xml")):
        return f"{kind}; charset=utf-8" if "charset" not in kind else kind
    return kind or "application/octet-stream"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="callsync", help="the stack's name (default callsync)")
    parser.add_argument("--dist", default=str(ROOT / "web" / "dist"), help="the built app")
    parser.add_argument("--api-url", help="the API's public URL, when not the ApiUrl output")
    args = parser.parse_args()

    dist = Path(args.dist)
    if not (dist / "index.html").is_file():
        sys.exit(f"web: {dist}/index.html is missing; run `make web` first")
    outputs, parameters = stack(args.stack)
    for needed in ("WebBucketName", "WebDistributionId", "WebUrl", "ApiUrl"):
        if needed not in outputs:
            sys.exit(f"web: stack {args.stack} has no output {needed}; deploy the template first")
    bucket = outputs["WebBucketName"]
    s3 = boto3.client("s3")

    files = sorted(p for p in dist.rglob("*") if p.is_file())
    # Assets before index.html, so no page ever names an asset not yet there.
    files.sort(key=lambda p: p.name == "index.html")
    for path in files:
        key = path.relative_to(dist).as_posix()
        cache = IMMUTABLE if key.startswith("assets/") else REVALIDATE
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type(path), "CacheControl": cache})
    generated = config(outputs, parameters, args.api_url)
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=json.dumps(generated, indent=2).encode(),
        ContentType="application/json",
        CacheControl=REVALIDATE,
    )
    boto3.client("cloudfront").create_invalidation(
        DistributionId=outputs["WebDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 2, "Items": ["/index.html", "/config.json"]},
            "CallerReference": f"deploy-{int(time.time())}",
        },
    )
    print(f"web: {len(files)} files and config.json uploaded; the Import Hub is at {outputs['WebUrl']}")
    print(f"web: API {generated['apiBaseUrl']}; sign-in " + ("OpenID Connect" if "oidc" in generated else "not configured"))


if __name__ == "__main__":
    main()
