"""Uploads one file through granary's /s3 endpoint as a multipart upload (50 MiB parts,
4 in flight, boto3 without payload signing or checksums) to its content-addressed key; prints the seconds
from CreateMultipartUpload to the end of CompleteMultipartUpload.

    python3 bench/s3_put.py URL API_KEY FILE HEX_SHA256
"""

import concurrent.futures
import json
import os
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

url, key, path, hexd = sys.argv[1:5]
PART = 50 << 20
req = urllib.request.Request(f"{url}/api/v1/org/default/ws/default/storage/credentials",
                             headers={"Authorization": f"Bearer {key}"})
c = json.loads(urllib.request.urlopen(req).read())
s3 = boto3.client("s3", endpoint_url=c["endpoint"], aws_access_key_id=c["access_key_id"],
                  aws_secret_access_key=c["secret_access_key"], aws_session_token=c["session_token"],
                  region_name=c["region"],
                  # A lean client, like curl on the OCI side: no payload hash, no checksum.
                  config=Config(max_pool_connections=8, s3={"payload_signing_enabled": False},
                                request_checksum_calculation="when_required"))
k = f"{c['prefix']}/cas/sha256/{hexd[:2]}/{hexd[2:4]}/{hexd}"
size = os.path.getsize(path)
n = (size + PART - 1) // PART


def part(i):
    with open(path, "rb") as f:
        f.seek(i * PART)
        body = f.read(PART)
    return i + 1, s3.upload_part(Bucket=c["bucket"], Key=k, UploadId=up, PartNumber=i + 1, Body=body)["ETag"]


start = time.monotonic()
up = s3.create_multipart_upload(Bucket=c["bucket"], Key=k)["UploadId"]
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    etags = dict(pool.map(part, range(n)))
parts_done = time.monotonic()
s3.complete_multipart_upload(Bucket=c["bucket"], Key=k, UploadId=up,
                             MultipartUpload={"Parts": [{"PartNumber": i, "ETag": etags[i]} for i in sorted(etags)]})
end = time.monotonic()
print(f"parts {parts_done - start:.2f} s, complete {end - parts_done:.2f} s", file=sys.stderr)
print(f"{end - start:.3f}")
