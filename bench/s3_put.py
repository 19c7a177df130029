"""Uploads one file through granary's /s3 endpoint as a multipart upload (50 MiB parts,
4 in flight) to its content-addressed key; prints the seconds from CreateMultipartUpload to
the end of CompleteMultipartUpload (client start-up and setup are not counted).

    python3 bench/s3_put.py URL API_KEY FILE HEX_SHA256 [boto3|curl]

boto3 (default) sends the parts itself, without payload signing or checksums. curl sends
each part with `curl -T` to a presigned UploadPart URL (the parts are cut into files in the
file's directory before the clock starts), so the client costs what curl costs on granary's
OCI route and the comparison is of the two server paths.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

url, key, path, hexd = sys.argv[1:5]
client = sys.argv[5] if len(sys.argv) > 5 else "boto3"
PART = 50 << 20
req = urllib.request.Request(f"{url}/api/v1/org/default/ws/default/storage/credentials",
                             headers={"Authorization": f"Bearer {key}"})
c = json.loads(urllib.request.urlopen(req).read())
s3 = boto3.client("s3", endpoint_url=c["endpoint"], aws_access_key_id=c["access_key_id"],
                  aws_secret_access_key=c["secret_access_key"], aws_session_token=c["session_token"],
                  region_name=c["region"],
                  # A lean client: no payload hash, no checksum.
                  config=Config(max_pool_connections=8, signature_version="s3v4", s3={"payload_signing_enabled": False},
                                request_checksum_calculation="when_required"))
k = f"{c['prefix']}/cas/sha256/{hexd[:2]}/{hexd[2:4]}/{hexd}"
size = os.path.getsize(path)
n = (size + PART - 1) // PART

pieces = []
if client == "curl":
    with open(path, "rb") as f:
        for i in range(n):
            piece = f"{path}.part{i + 1}"
            with open(piece, "wb") as out:
                out.write(f.read(PART))
            pieces.append(piece)


def part_boto3(i):
    with open(path, "rb") as f:
        f.seek(i * PART)
        body = f.read(PART)
    return i + 1, s3.upload_part(Bucket=c["bucket"], Key=k, UploadId=up, PartNumber=i + 1, Body=body)["ETag"]


def part_curl(i):
    signed = s3.generate_presigned_url("upload_part", ExpiresIn=600, Params={
        "Bucket": c["bucket"], "Key": k, "UploadId": up, "PartNumber": i + 1})
    out = subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-D", "-", "-H", "Expect:",
                          "-T", pieces[i], signed], check=True, capture_output=True, text=True).stdout
    etag = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("etag:"))
    return i + 1, etag


try:
    start = time.monotonic()
    up = s3.create_multipart_upload(Bucket=c["bucket"], Key=k)["UploadId"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        etags = dict(pool.map(part_curl if client == "curl" else part_boto3, range(n)))
    parts_done = time.monotonic()
    s3.complete_multipart_upload(Bucket=c["bucket"], Key=k, UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": i, "ETag": etags[i]} for i in sorted(etags)]})
    end = time.monotonic()
finally:
    for piece in pieces:
        os.remove(piece)
print(f"{client}: parts {parts_done - start:.2f} s, complete {end - parts_done:.2f} s", file=sys.stderr)
print(f"{end - start:.3f}")
