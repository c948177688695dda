#!/bin/bash
@@MARKER@@
# Job @@JOB@@: fetch the code and data from S3, train, upload model.tar.gz, record the outcome in
# @@STATUS_URI@@, then shut down (the instance terminates on shutdown). A shutdown is scheduled first, at the
# runtime cap (train.ec2.max_run_s): the instance powers off then even if the job hangs.
# cloud-init runs this as root on a Deep Learning AMI; the embedded local AWS runs the same text with
# MLOPS_WORKDIR, MLOPS_PYTHON and AWS_ENDPOINT_URL set.
set -euo pipefail

JOB_NAME=@@JOB_Q@@
CODE_URI=@@CODE_URI@@
DATA_URI=@@DATA_URI@@
JOB_URI=@@JOB_URI@@
HYPERPARAMETERS=(@@HYPERPARAMETERS@@)
MAX_RUN_S=@@MAX_RUN_S@@
MAX_RUN_MINUTES=@@MAX_RUN_MINUTES@@
export AWS_DEFAULT_REGION=@@REGION@@
WORKDIR="${MLOPS_WORKDIR:-@@DEFAULT_WORKDIR@@}"
LOG="$WORKDIR/@@LOG_FILE@@"
STAGE="start"
STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
CAP_AT=""

# The DLAMI's PyTorch environment (older DLAMIs: a conda env); its bin/ is also where `aws` is looked for last.
PYTHON="${MLOPS_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in /opt/pytorch/bin/python /opt/conda/envs/pytorch/bin/python python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
export PATH="$PATH:$(dirname "$(command -v "$PYTHON")")"

mkdir -p "$WORKDIR"
: > "$LOG"
# Everything goes to the console (cloud-init's log) and to $LOG, which is uploaded at the end.
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

finish() {
  local code=$?
  trap - EXIT
  set +e
  exec >>"$LOG" 2>&1
  wait "$TEE_PID" 2>/dev/null
  STATUS=Failed
  [ "$code" -eq 0 ] && [ "$STAGE" = "done" ] && STATUS=Completed
  CAP_REACHED=0
  [ -n "$CAP_AT" ] && [ "$(date +%s)" -ge "$CAP_AT" ] && CAP_REACHED=1
  EXIT_CODE="$code" STATUS="$STATUS" STAGE="$STAGE" STARTED_AT="$STARTED_AT" JOB_NAME="$JOB_NAME" \
    CAP_REACHED="$CAP_REACHED" MAX_RUN_S="$MAX_RUN_S" \
    MODEL_ARTIFACT="$JOB_URI/output/model.tar.gz" LOG_URI="$JOB_URI/@@LOG_FILE@@" \
    python3 - "$LOG" "$WORKDIR/model/metrics.json" > "$WORKDIR/@@STATUS_FILE@@" <<'PY'
import json, os, sys, time
lines = [line.rstrip() for line in open(sys.argv[1], errors="replace") if line.strip()]
try:
    metrics = json.load(open(sys.argv[2]))
    metrics = {key: metrics[key] for key in ("test_acc", "test_loss", "best_epoch") if key in metrics}
except (OSError, ValueError):
    metrics = {}
failed = os.environ["STATUS"] != "Completed"
reason = ""
if failed:
    reason = "%s failed (exit %s)" % (os.environ["STAGE"], os.environ["EXIT_CODE"])
    if os.environ["EXIT_CODE"] == "143" and os.environ["CAP_REACHED"] == "1":
        reason += ": the runtime cap was reached (train.ec2.max_run_s: %s s); the instance shut down" % (
            os.environ["MAX_RUN_S"])
    elif os.environ["EXIT_CODE"] == "143":
        reason += ": SIGTERM, the instance was stopped or terminated"
    elif lines:
        reason += ": " + lines[-1][-300:]
json.dump({"job_name": os.environ["JOB_NAME"], "status": os.environ["STATUS"], "reason": reason,
           "stage": os.environ["STAGE"], "exit_code": int(os.environ["EXIT_CODE"]),
           "model_artifact": None if failed else os.environ["MODEL_ARTIFACT"], "log_uri": os.environ["LOG_URI"],
           "metrics": metrics, "log_tail": lines[-20:], "started_at": os.environ["STARTED_AT"],
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, sys.stdout, indent=2)
PY
  aws s3 cp "$LOG" "$JOB_URI/@@LOG_FILE@@" --only-show-errors
  aws s3 cp "$WORKDIR/@@STATUS_FILE@@" "$JOB_URI/@@STATUS_FILE@@" --only-show-errors --content-type application/json
  shutdown -h now
}
trap finish EXIT
# Stopped or terminated from outside: a recorded failure, never a success. tee may be gone by then, so output
# goes straight to the log and a closed pipe is no reason to die before the status is written.
trap 'exec >>"$LOG" 2>&1; exit 143' TERM
trap '' PIPE

# The hard runtime cap, before anything can hang: shutdown(8) at +MINUTES (systemd then stops everything, this
# script's TERM trap records the failure, and the instance terminates on shutdown). The local AWS keeps shorter
# minutes (MLOPS_MINUTE_S); CAP_AT tells the status which SIGTERM was the cap's.
STAGE="schedule the runtime cap"
CAP_AT=$(( $(date +%s) + MAX_RUN_MINUTES * ${MLOPS_MINUTE_S:-60} ))
shutdown -h "+$MAX_RUN_MINUTES" "mlops: job $JOB_NAME reached its runtime cap of $MAX_RUN_S s"

STAGE="download code"
aws s3 cp "$CODE_URI" "$WORKDIR/sourcedir.tar.gz" --only-show-errors
rm -rf "$WORKDIR/code" "$WORKDIR/model"
mkdir -p "$WORKDIR/code" "$WORKDIR/model"
tar -xzf "$WORKDIR/sourcedir.tar.gz" -C "$WORKDIR/code"

STAGE="download data"
aws s3 sync "$DATA_URI/" "$WORKDIR/data" --only-show-errors
if [ -z "$(ls -A "$WORKDIR/data")" ]; then
  echo "no objects under $DATA_URI/ (upload the data first: mlops data upload)"
  exit 1
fi

STAGE="training"
cd "$WORKDIR/code"
"$PYTHON" -m model.train_ec2 --data-dir "$WORKDIR/data" --model-dir "$WORKDIR/model" \
  --checkpoint-dir "$WORKDIR/checkpoints" "${HYPERPARAMETERS[@]}"

STAGE="upload model"
tar -czf "$WORKDIR/model.tar.gz" -C "$WORKDIR/model" .
aws s3 cp "$WORKDIR/model.tar.gz" "$JOB_URI/output/model.tar.gz" --only-show-errors
echo "model artifact: $JOB_URI/output/model.tar.gz"
STAGE="done"
