"""The drive-by, in a real headless Chromium: a page from another loopback origin posts a source package into the
project's bucket (an S3 form POST, a "simple" request with no preflight) and calls CreateTrainingJob with fetch().
Nothing lands and no code runs. The same two requests, signed by the user's own client, do run the package's
code: the page's attack is a real one, stopped by the front door alone."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

BUCKET = "mlops-local"  # configs/local.yaml's project bucket
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

PAGE = """<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="upload" method="POST" enctype="multipart/form-data" target="sink" action="__AWS__/__BUCKET__">
  <input name="key" value="__KEY__"><textarea name="file">not a tarball</textarea>
</form>
<script>
const aws = "__AWS__", results = [];
async function attempt(name, run) {
  try { const response = await run(); results.push([name, response.type, response.status]); }
  catch (error) { results.push([name, "error", String(error)]); }
}
(async () => {
  document.getElementById("upload").submit();  // a plain HTML form post: no preflight, ever
  const form = new FormData();
  form.append("key", "__KEY__");
  form.append("file", new Blob([Uint8Array.from(atob("__TARBALL__"), c => c.charCodeAt(0))]), "source.tar.gz");
  await attempt("form-post", () => fetch(aws + "/__BUCKET__", {method: "POST", mode: "no-cors", body: form}));
  const job = JSON.stringify(__JOB__);
  await attempt("create-training-job", () => fetch(aws + "/", {method: "POST", body: job, headers: {
    "X-Amz-Target": "SageMaker.CreateTrainingJob", "Content-Type": "application/x-amz-json-1.1"}}));
  await attempt("create-training-job-no-cors", () => fetch(aws + "/", {method: "POST", mode: "no-cors",
    body: job, headers: {"Content-Type": "text/plain"}}));
  await new Promise(resolve => setTimeout(resolve, 500));  // the form's own post
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
})();
</script></body></html>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("Chromium is not installed and could not be (`make browser` installs it where apt-get runs as root)")


def source_package(marker: Path) -> bytes:
    """A source package whose entry point leaves a marker: what the attacker wants run."""
    script = f"from pathlib import Path\nPath({str(marker)!r}).write_text('pwned')\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    return buffer.getvalue()


def training_job(name: str, key: str) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": f"arn:aws:iam::123456789012:role/{name}",
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/driveby/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "HyperParameters": {
            "sagemaker_program": json.dumps("train.py"),
            "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/{key}"),
        },
    }


class PageServer:
    """The attacker's page on its own loopback origin; the page posts what it saw to /report."""

    def __init__(self, page: str):
        self.reports: list = []
        reports, body = self.reports, page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                reports.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_web_page_cannot_upload_code_or_start_a_training_job(local_aws, boto_client, tmp_path):
    import base64

    browser = chromium()
    marker = tmp_path / "marker"
    name, key = f"driveby-{uuid.uuid4().hex[:8]}", f"driveby/code/source-{uuid.uuid4().hex[:8]}.tar.gz"
    s3, sagemaker = boto_client("s3"), boto_client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    boto_client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    package = source_package(marker)
    page = (
        PAGE.replace("__AWS__", local_aws)
        .replace("__BUCKET__", BUCKET)
        .replace("__KEY__", key)
        .replace("__TARBALL__", base64.b64encode(package).decode())
        .replace("__JOB__", json.dumps(training_job(name, key)))
    )
    attacker = PageServer(page)
    process = subprocess.Popen(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            attacker.url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not attacker.reports:
            assert process.poll() is None, "Chromium exited before the page reported"
            assert time.monotonic() < deadline, "the page never reported (did Chromium run it?)"
            time.sleep(0.1)
    finally:
        process.kill()
        process.wait(timeout=30)
        attacker.server.shutdown()
    results = {attempt[0]: attempt[1:] for attempt in attacker.reports[0]}
    assert set(results) == {"form-post", "create-training-job", "create-training-job-no-cors"}
    assert results["create-training-job"][0] == "error"  # the preflight got no CORS permission

    assert not marker.exists()
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=key)
    assert sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []

    # The very same requests from the user's own client: the package's code runs.
    s3.put_object(Bucket=BUCKET, Key=key, Body=package)
    sagemaker.create_training_job(**training_job(name, key))
    deadline = time.monotonic() + 120
    while not marker.exists():
        status = sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        assert status in ("InProgress", "Completed") and time.monotonic() < deadline, status
        time.sleep(0.2)
