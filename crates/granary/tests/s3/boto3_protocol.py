"""The /s3 ingest endpoint driven by boto3, an S3 client independent of the server.

Run by crates/granary/tests/s3_ingest.rs against a live `granary serve`:
    URL=http://127.0.0.1:PORT KEY=<writer key> READER_KEY=<reader key> python3 boto3_protocol.py
Exits non-zero with the failing check's message; prints "ok <n> checks" on success.
"""

import concurrent.futures
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["URL"].rstrip("/")
KEY = os.environ["KEY"]
READER_KEY = os.environ["READER_KEY"]
ORG = os.environ.get("ORG", "default")
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def api(path, key, method="GET"):
    req = urllib.request.Request(URL + path, method=method, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def credentials(key=KEY):
    status, body = api(f"/api/v1/org/{ORG}/ws/default/storage/credentials", key)
    check(status == 200, f"credentials: {status} {body[:200]!r}")
    return json.loads(body)


def client(creds, **override):
    c = dict(creds)
    c.update(override)
    return boto3.client(
        "s3",
        endpoint_url=c["endpoint"],
        aws_access_key_id=c["access_key_id"],
        aws_secret_access_key=c["secret_access_key"],
        aws_session_token=c["session_token"],
        region_name=c["region"],
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )


def error_code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def cas_key(creds, data):
    h = hashlib.sha256(data).hexdigest()
    return f"{creds['prefix']}/cas/sha256/{h[:2]}/{h[2:4]}/{h}", h


def org_blob(h):
    return api(f"/api/v1/{ORG}/blobs/sha256:{h}", KEY)


# --- the credentials route --------------------------------------------------------------
creds = credentials()
check(set(creds) == {"access_key_id", "secret_access_key", "session_token", "expiration", "region", "bucket", "prefix", "endpoint"}, f"credential fields {sorted(creds)}")
check(creds["endpoint"] == URL + "/s3", f"endpoint {creds['endpoint']}")
check(creds["bucket"] == ORG and creds["prefix"] == ORG, f"bucket/prefix {creds['bucket']}/{creds['prefix']}")
status, body = api(f"/api/v1/org/{ORG}/ws/default/storage/credentials", READER_KEY)
check(status == 403 and json.loads(body)["detail"].startswith("your role in organization"), f"reader credentials: {status} {body!r}")
status, _ = api("/api/v1/org/no-such-org/ws/default/storage/credentials", KEY)
check(status == 404, f"unknown org credentials: {status}")
status, _ = api(f"/api/v1/org/{ORG}/ws/other/storage/credentials", KEY)
check(status == 404, f"unknown workspace credentials: {status}")
status, _ = api(f"/api/v1/org/{ORG}/ws/default/storage/credentials", "gra_wrong")
check(status == 401, f"bad key credentials: {status}")

s3 = client(creds)
bucket = creds["bucket"]

# --- PutObject, HeadObject, ranges ------------------------------------------------------
small = os.urandom(1000) + b"granary"
key, h = cas_key(creds, small)
code = error_code(lambda: s3.head_object(Bucket=bucket, Key=key))
check(code == "404", f"head before put: {code}")
r = s3.put_object(Bucket=bucket, Key=key, Body=small)
check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, "put_object status")
r = s3.head_object(Bucket=bucket, Key=key)
check(r["ContentLength"] == len(small), f"head size {r['ContentLength']}")
r = s3.head_object(Bucket=bucket, Key=key, Range="bytes=10-19")
check(r["ResponseMetadata"]["HTTPStatusCode"] == 206 and r["ContentLength"] == 10, f"ranged head {r['ResponseMetadata']['HTTPStatusCode']} {r['ContentLength']}")
check(r["ContentRange"] == f"bytes 10-19/{len(small)}", f"content-range {r.get('ContentRange')}")
status, got = org_blob(h)
check(status == 200 and got == small, "stored bytes equal the bytes put")
# The same bytes again: accepted, nothing changes.
s3.put_object(Bucket=bucket, Key=key, Body=small)

# A body that does not hash to the key's digest: BadDigest, nothing stored.
other = os.urandom(64)
wrong_key, wrong_h = cas_key(creds, b"something else")
code = error_code(lambda: s3.put_object(Bucket=bucket, Key=wrong_key, Body=other))
check(code == "BadDigest", f"digest mismatch put: {code}")
check(error_code(lambda: s3.head_object(Bucket=bucket, Key=wrong_key)) == "404", "nothing stored after BadDigest")

# --- multipart, parts out of order and concurrent --------------------------------------
MiB = 1 << 20
parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 7)]
whole = b"".join(parts)
mkey, mh = cas_key(creds, whole)
up = s3.create_multipart_upload(Bucket=bucket, Key=mkey)["UploadId"]


def send(n):
    r = s3.upload_part(Bucket=bucket, Key=mkey, UploadId=up, PartNumber=n, Body=parts[n - 1])
    return n, r["ETag"]


with concurrent.futures.ThreadPoolExecutor(3) as pool:
    etags = dict(pool.map(send, [3, 1, 2]))
# A part sent twice keeps the ETag of the bytes named at completion.
etags[2] = send(2)[1]
r = s3.complete_multipart_upload(
    Bucket=bucket, Key=mkey, UploadId=up,
    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
)
check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, "complete status")
check(s3.head_object(Bucket=bucket, Key=mkey)["ContentLength"] == len(whole), "multipart size")
status, got = org_blob(mh)
check(status == 200 and hashlib.sha256(got).hexdigest() == mh, "multipart bytes stored")
code = error_code(lambda: s3.upload_part(Bucket=bucket, Key=mkey, UploadId=up, PartNumber=1, Body=b"x"))
check(code == "NoSuchUpload", f"part after complete: {code}")

# Parts named out of order, a part never sent, a small middle part.
up = s3.create_multipart_upload(Bucket=bucket, Key=mkey)["UploadId"]
e1 = s3.upload_part(Bucket=bucket, Key=mkey, UploadId=up, PartNumber=1, Body=b"tiny")["ETag"]
e2 = s3.upload_part(Bucket=bucket, Key=mkey, UploadId=up, PartNumber=2, Body=b"tiny too")["ETag"]
mp = lambda ps: error_code(lambda: s3.complete_multipart_upload(Bucket=bucket, Key=mkey, UploadId=up, MultipartUpload={"Parts": ps}))
check(mp([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]) == "InvalidPartOrder", "parts out of order")
check(mp([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 5, "ETag": e1}]) == "InvalidPart", "unknown part")
check(mp([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]) == "EntityTooSmall", "small middle part")

# --- abort ------------------------------------------------------------------------------
r = s3.abort_multipart_upload(Bucket=bucket, Key=mkey, UploadId=up)
check(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "abort status")
code = error_code(lambda: s3.upload_part(Bucket=bucket, Key=mkey, UploadId=up, PartNumber=1, Body=b"x"))
check(code == "NoSuchUpload", f"part after abort: {code}")

# Multipart whose bytes do not match the key: BadDigest, nothing stored.
bad_key, _ = cas_key(creds, b"not these bytes")
up = s3.create_multipart_upload(Bucket=bucket, Key=bad_key)["UploadId"]
e1 = s3.upload_part(Bucket=bucket, Key=bad_key, UploadId=up, PartNumber=1, Body=b"other bytes")["ETag"]
code = error_code(lambda: s3.complete_multipart_upload(Bucket=bucket, Key=bad_key, UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]}))
check(code == "BadDigest", f"multipart digest mismatch: {code}")
check(error_code(lambda: s3.head_object(Bucket=bucket, Key=bad_key)) == "404", "nothing stored after multipart BadDigest")
# An upload id of this org used with another key.
up = s3.create_multipart_upload(Bucket=bucket, Key=bad_key)["UploadId"]
code = error_code(lambda: s3.upload_part(Bucket=bucket, Key=mkey, UploadId=up, PartNumber=1, Body=b"x"))
check(code == "NoSuchUpload", f"upload id with another key: {code}")
s3.abort_multipart_upload(Bucket=bucket, Key=bad_key, UploadId=up)

# --- listing ----------------------------------------------------------------------------
r = s3.list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1)
check(r["KeyCount"] == 0 and "Contents" not in r, f"directory probe {r.get('KeyCount')}")
r = s3.list_objects_v2(Bucket=bucket, Prefix=f"{creds['prefix']}/cas/sha256/")
listed = {o["Key"]: o["Size"] for o in r.get("Contents", [])}
check(listed.get(key) == len(small) and listed.get(mkey) == len(whole), f"listing {listed}")
r = s3.list_objects_v2(Bucket=bucket, Prefix=key)
check([o["Key"] for o in r["Contents"]] == [key], "listing one key by prefix")
r = s3.list_objects_v2(Bucket=bucket, Prefix=f"{creds['prefix']}/cas/sha256/", Delimiter="/")
check(all(p["Prefix"].endswith("/") for p in r.get("CommonPrefixes", [])) and r.get("CommonPrefixes"), "common prefixes")
page = s3.list_objects_v2(Bucket=bucket, Prefix=f"{creds['prefix']}/", MaxKeys=1)
check(page["IsTruncated"] and page["KeyCount"] == 1, "first page of one")
page2 = s3.list_objects_v2(Bucket=bucket, Prefix=f"{creds['prefix']}/", MaxKeys=1, ContinuationToken=page["NextContinuationToken"])
check(page2["Contents"][0]["Key"] > page["Contents"][0]["Key"], "second page continues")

# --- reads, other keys, other buckets, other operations --------------------------------
check(error_code(lambda: s3.get_object(Bucket=bucket, Key=key)) == "NoSuchKey", "GetObject is not a way around counted downloads")
check(error_code(lambda: s3.put_object(Bucket=bucket, Key=f"{creds['prefix']}/notes.txt", Body=b"x")) == "AccessDenied", "non-CAS key refused")
check(error_code(lambda: s3.put_object(Bucket="no-such-org", Key=key, Body=small)) == "NoSuchBucket", "unknown bucket")
check(error_code(lambda: s3.delete_object(Bucket=bucket, Key=key)) == "AccessDenied", "delete refused")
check(error_code(lambda: s3.copy_object(Bucket=bucket, Key=mkey, CopySource={"Bucket": bucket, "Key": key})) == "NotImplemented", "copy not implemented")
check(error_code(lambda: s3.get_bucket_acl(Bucket=bucket)) == "NotImplemented", "acl not implemented")
check(s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200, "head bucket")
check([b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket], "list buckets")

# --- authentication ---------------------------------------------------------------------
check(error_code(lambda: client(creds, secret_access_key="x" * 43).head_object(Bucket=bucket, Key=key)) == "403", "bad signature (HEAD)")
check(error_code(lambda: client(creds, secret_access_key="x" * 43).put_object(Bucket=bucket, Key=key, Body=small)) == "SignatureDoesNotMatch", "bad signature")
check(error_code(lambda: client(creds, session_token="wrong").put_object(Bucket=bucket, Key=key, Body=small)) == "InvalidToken", "wrong session token")
check(error_code(lambda: client(creds, session_token=None).put_object(Bucket=bucket, Key=key, Body=small)) == "InvalidToken", "missing session token")
check(error_code(lambda: client(creds, access_key_id="AKIAIOSFODNN7EXAMPLE").put_object(Bucket=bucket, Key=key, Body=small)) == "InvalidAccessKeyId", "foreign access key")
unsigned = boto3.client("s3", endpoint_url=creds["endpoint"], region_name="us-east-1", config=Config(signature_version=botocore.UNSIGNED))
check(error_code(lambda: unsigned.put_object(Bucket=bucket, Key=key, Body=small)) == "AccessDenied", "anonymous refused")

# Clock skew beyond 15 minutes.
import datetime
import botocore.auth as bauth

real_now = bauth.get_current_datetime if hasattr(bauth, "get_current_datetime") else None
skewed = lambda: datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
if real_now is not None:
    bauth.get_current_datetime = skewed
    try:
        check(error_code(lambda: s3.put_object(Bucket=bucket, Key=key, Body=small)) == "RequestTimeTooSkewed", "clock skew")
    finally:
        bauth.get_current_datetime = real_now

# Presigned (query) authentication, with the session token in the query.
url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
check("X-Amz-Security-Token=" in url and "X-Amz-Signature=" in url, "presigned URL is SigV4 with a token")
with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as r:
    check(r.status == 200 and int(r.headers["Content-Length"]) == len(small), "presigned HEAD")
pdata = os.urandom(333)
pkey, ph = cas_key(creds, pdata)
url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": pkey}, ExpiresIn=300)
with urllib.request.urlopen(urllib.request.Request(url, data=pdata, method="PUT")) as r:
    check(r.status == 200, "presigned PUT")
check(org_blob(ph) == (200, pdata), "presigned PUT stored the bytes")
try:
    urllib.request.urlopen(urllib.request.Request(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), data=pdata, method="PUT"))
    check(False, "tampered presigned URL accepted")
except urllib.error.HTTPError as e:
    check(e.code == 403 and b"SignatureDoesNotMatch" in e.read(), "tampered presigned URL refused")

# --- two replicas: parts spread over both servers ---------------------------------------
if os.environ.get("URL2"):
    other_s3 = client(creds, endpoint=os.environ["URL2"].rstrip("/") + "/s3")
    rparts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(12345)]
    rwhole = b"".join(rparts)
    rkey, rh = cas_key(creds, rwhole)
    up = s3.create_multipart_upload(Bucket=bucket, Key=rkey)["UploadId"]
    via = {1: other_s3, 2: s3, 3: other_s3}

    def send_r(n):
        return n, via[n].upload_part(Bucket=bucket, Key=rkey, UploadId=up, PartNumber=n, Body=rparts[n - 1])["ETag"]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        retags = dict(pool.map(send_r, [2, 3, 1]))
    other_s3.complete_multipart_upload(
        Bucket=bucket, Key=rkey, UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": retags[n]} for n in (1, 2, 3)]},
    )
    check(s3.head_object(Bucket=bucket, Key=rkey)["ContentLength"] == len(rwhole), "multipart across replicas")
    status, got = org_blob(rh)
    check(status == 200 and got == rwhole, "multipart across replicas stored the bytes")

# --- revocation and expiry -------------------------------------------------------------
import subprocess
import time

if os.environ.get("REVOKED_KEY"):
    c2 = credentials(os.environ["REVOKED_KEY"])
    s3b = client(c2)
    r = s3b.head_object(Bucket=bucket, Key=key)
    check(r["ContentLength"] == len(small), "second key's credentials work before revocation")
    subprocess.run(os.environ["REVOKE"], shell=True, check=True, stdout=subprocess.DEVNULL)
    code = error_code(lambda: s3b.put_object(Bucket=bucket, Key=key, Body=small))
    check(code == "InvalidAccessKeyId", f"credentials of a revoked key: {code}")

if os.environ.get("SHORT_URL"):
    with urllib.request.urlopen(urllib.request.Request(
            os.environ["SHORT_URL"] + f"/api/v1/org/{ORG}/ws/default/storage/credentials",
            headers={"Authorization": "Bearer " + os.environ["SHORT_KEY"]})) as r:
        short = json.loads(r.read())
    # The lifetime is one second, counted in whole seconds: past it after two.
    time.sleep(2.1)
    code = error_code(lambda: client(short).put_object(Bucket=short["bucket"], Key=cas_key(short, small)[0], Body=small))
    check(code == "ExpiredToken", f"expired credentials: {code}")

print(f"ok {checks} checks")
print(json.dumps({"access_key_id": creds["access_key_id"], "key": key, "hash": h}))
