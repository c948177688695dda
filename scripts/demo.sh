#!/usr/bin/env bash
# The main job, end to end, on the embedded local AWS (no account, no Docker):
# sample data -> S3 -> hyperparameter tuning -> 2-instance DDP training job with the best values -> autoscaled endpoint
# -> Lambda with concurrency -> IAM audit -> a load test whose plot it names at the end.
# It runs in this folder as a project (mlops.yaml, written by `mlops init --local` unless there is one), and leaves
# the local AWS and the endpoint running, so the commands it prints at the end work as typed.
set -euo pipefail

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
if [ -n "${MLOPS_CONFIG+set}" ]; then
    echo "note: MLOPS_CONFIG is ignored here: the demo uses this folder's mlops.yaml, as commands typed here will" >&2
    unset MLOPS_CONFIG
fi

step "this folder as a project on the local AWS (mlops.yaml)"
[ -e mlops.yaml ] || mlops init --local
endpoint=$(mlops -o json config show | python -c 'import json,sys; print(json.load(sys.stdin)["aws"]["endpoint_url"] or "")')
case "$endpoint" in
    http://127.0.0.1:*|http://localhost:*) ;;
    *) echo "error: mlops.yaml does not point at the embedded local AWS (aws.endpoint_url: ${endpoint:-none});" \
            "the demo runs only there: move it away, or run the demo in another folder" >&2; exit 2 ;;
esac
trap 'printf "\nthe demo stopped early; the local AWS still runs: \`mlops status\`, \`mlops local down\`\n" >&2' ERR

step "start the local AWS";                      mlops local up
home=$(mlops -o json local status | python -c 'import json,sys; print(json.load(sys.stdin)["home"])')
step "act as a least-privilege CI user: it holds only what \`mlops config permissions\` prints for the demo"
eval "$(mlops local env)"  # the root makes the user and attaches the policy (in parts: 6,144 characters each)
mlops -o json config permissions data upload tune train deploy invoke "lambda deploy" "lambda invoke" \
  "concurrency set" audit-iam status loadtest teardown > "$home/ci-policy.json"
python - "$home/ci-policy.json" <<'PY'
import json, sys
import boto3

document, iam = json.load(open(sys.argv[1])), boto3.client("iam")
if "ci" not in [user["UserName"] for user in iam.list_users()["Users"]]:  # made by an earlier run: kept
    iam.create_user(UserName="ci")
    parts = [[]]
    for statement in document["Statement"]:
        if parts[-1] and len(json.dumps({**document, "Statement": parts[-1] + [statement]})) > 6144:
            parts.append([])
        parts[-1].append(statement)
    for index, statements in enumerate(parts):
        body = json.dumps({**document, "Statement": statements})
        arn = iam.create_policy(PolicyName=f"ci-{index}", PolicyDocument=body)["Policy"]["Arn"]
        iam.attach_user_policy(UserName="ci", PolicyArn=arn)
PY
eval "$(mlops local env --user ci)"
aws sts get-caller-identity --query Arn --output text
step "write the sample data (digits)";           mlops data sample
step "upload it to S3";                          mlops data upload
best="$home/best-hyperparameters.yaml"
step "tune: 4 one-epoch trials, 2 at a time";    mlops tune --max-jobs 4 --parallel 2 --hp epochs=1 --write-best "$best"
step "train on 2 instances (real DDP) with the best values"
mlops -c mlops.yaml -c "$best" train --instance-count 2 --wait
step "deploy with autoscaling";                  mlops deploy --autoscale max=2 --wait
# The first test image; `sed -n 1p` reads to the end, so sort never dies of SIGPIPE (head would, under pipefail).
image=$(find "$(mlops -o json config show | python -c 'import json,sys; print(json.load(sys.stdin)["data"]["local_dir"])')/test" -name '*.png' | sort | sed -n 1p)
step "invoke the endpoint with $image";          mlops invoke "$image" --top-k 3
step "deploy the Lambda function";               mlops lambda deploy
step "invoke it";                                mlops lambda invoke "$image"
step "reserved + provisioned concurrency";       mlops concurrency set --reserved 10 --provisioned 1
# What the CI user holds by its job, accepted with the reason: it deploys the function, so it can change the code
# that runs as the function's role (IAM022); it creates and converges the project's roles, so it can write their
# policies and trust (IAM020); Application Auto Scaling names a scalable target by an id it makes, so scaling
# policies are granted on * (IAM012).
ignore="$home/ci-user.iam-ignore.yaml"
printf '%s\n' 'ignore:' '  - rule: IAM022' '    arn: "arn:aws:iam::*:user/ci"' \
  '    reason: "the demo deploys as user ci: updating the Lambda function code is its job"' \
  '  - rule: IAM020' '    arn: "arn:aws:iam::*:user/ci"' \
  '    reason: "user ci creates and converges the project roles: writing their policies is its job"' \
  '  - rule: IAM012' '    arn: "arn:aws:iam::*:policy/ci-*"' \
  '    reason: "scaling policies: a scalable target has no ARN to grant on before it exists"' > "$ignore"
step "audit IAM (the project's roles must be clean)"; mlops audit-iam --ignore-file "$ignore"
step "what runs, and what it would cost";        mlops status
plot="$home/loadtest.png"
load="$home/loadtest.json"
step "load test: 2 -> 0.2 requests/s over 300 s (a local minute lasts 6 s): 1 -> 2 instances, then back to 1"
mlops -o json loadtest --ramp 2:0.2 --duration 300 --plot "$plot" --fail-on 'errors>1' > "$load"
# Say what happened: scaling depends on the machine keeping up, and a demo that claims it must show it.
python - "$load" <<'PY'
import json, sys
load = json.load(open(sys.argv[1]))
counts = [point["count"] for point in load["instances"]]
path = " -> ".join(str(c) for i, c in enumerate(counts) if i == 0 or c != counts[i - 1])
print(f"{load['requests']} requests, {load['ok']} ok, p99 {load['latency_ms']['p99']} ms from the due time; "
      f"instances {path}")
if counts and counts[0] == 1 and 2 in counts and counts[-1] == 1:
    print("the endpoint scaled out to 2 instances under the load, and back in to 1 on the trickle")
else:
    print(f"NOTE: the endpoint did NOT scale 1 -> 2 -> 1 in this run (instances {path}); see the plot, "
          "and docs/operations.md for the rules it follows")
PY
trap - ERR
cat <<DONE

load test plot: $plot

The endpoint, the Lambda function and the local AWS keep running (state in $home). Carry on from this folder:
  mlops status
  mlops invoke $image
  mlops loadtest --duration 10
When done:
  mlops teardown --all --lambda --yes    # delete the endpoint, its scaling and the Lambda function
  mlops local down                       # stop the local AWS (its state stays until \`mlops local reset\`)
DONE
