"""The rule catalog: stable IDs, default severities, why each matters and how to fix it.

IDs never change meaning; a retired rule's ID is not reused. The default severity is what a finding gets in
its plainest form; checks lower it where a grant is narrowed (a resource pattern, a condition) and say why.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # low 0 ... critical 3


_POSITION = {name: position for position, name in enumerate(SEVERITIES)}


def lower(severity: str, steps: int) -> str:
    """A severity `steps` levels lower, never below low."""
    return SEVERITIES[min(_POSITION[severity] + steps, len(SEVERITIES) - 1)]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    category: str
    why: str
    fix: str


RULES = {
    rule.id: rule
    for rule in [
        Rule(
            "IAM001",
            "AdministratorAccess attached",
            "critical",
            "admin-access",
            "The principal can do anything in the account, including erasing audit trails and creating new admins.",
            "Detach AdministratorAccess; grant a customer managed policy with the actions the job needs.",
        ),
        Rule(
            "IAM002",
            "PowerUserAccess attached",
            "high",
            "admin-access",
            "Every service except IAM and Organizations, so it can read all data and take over running compute.",
            "Replace PowerUserAccess with policies scoped to the services and resources in use.",
        ),
        Rule(
            "IAM003",
            "IAMFullAccess attached",
            "critical",
            "admin-access",
            "Full IAM lets the principal attach AdministratorAccess to itself: it is admin in one call.",
            "Detach IAMFullAccess; delegate IAM changes to a pipeline role with a permissions boundary.",
        ),
        Rule(
            "IAM004",
            "AWS managed *FullAccess policy attached",
            "medium",
            "admin-access",
            "FullAccess policies grant every action of a service on every resource, far beyond what a workload uses.",
            "Replace it with a customer managed policy listing the actions and resources actually used.",
        ),
        Rule(
            "IAM010",
            "Policy grants Action * on Resource *",
            "critical",
            "wildcards",
            "A statement allowing every action on every resource makes whoever holds it an administrator.",
            "Replace the statement with the specific actions and resource ARNs needed.",
        ),
        Rule(
            "IAM011",
            "Service-wide action wildcard (service:*)",
            "medium",
            "wildcards",
            "`service:*` grants every current and future action of the service, including destructive and "
            "permission-changing ones.",
            "List the actions needed instead of `service:*`.",
        ),
        Rule(
            "IAM012",
            "Permissions-management actions on Resource *",
            "high",
            "resource-exposure",
            "Changing resource policies, ACLs, grants or IAM on every resource can expose data publicly or to other "
            "accounts.",
            "Restrict these actions to the specific resource ARNs, or remove them.",
        ),
        Rule(
            "IAM013",
            "Write or tagging actions on Resource *",
            "low",
            "infrastructure-modification",
            "Unscoped write actions let the principal change or delete any resource of those services.",
            "Scope write actions to the resource ARNs (or name prefixes) the workload owns.",
        ),
        Rule(
            "IAM014",
            "Allow with NotAction",
            "high",
            "wildcards",
            "Allow + NotAction grants every action except a list, including services launched later.",
            "Rewrite as an Allow of the needed actions (use a Deny + NotAction guard-rail if that was the intent).",
        ),
        Rule(
            "IAM015",
            "Allow with NotResource",
            "medium",
            "wildcards",
            "Allow + NotResource grants the actions on every resource except a list, including ones created later.",
            "List the resources the actions apply to instead.",
        ),
        Rule(
            "IAM020",
            "Privilege escalation through IAM permissions",
            "critical",
            "privilege-escalation",
            "The principal can rewrite its own (or another principal's) permissions or mint credentials for another "
            "user, so it can become administrator.",
            "Remove these IAM actions, or restrict them to resources that cannot lead back to more privilege and add "
            "a permissions boundary.",
        ),
        Rule(
            "IAM021",
            "Privilege escalation with iam:PassRole and a compute service",
            "critical",
            "privilege-escalation",
            "With iam:PassRole on any role plus a service that runs code as the passed role, the principal can run "
            "code with the permissions of any role in the account.",
            "Restrict iam:PassRole to the one role the workload needs (Resource = its ARN) and add the "
            "iam:PassedToService condition.",
        ),
        Rule(
            "IAM022",
            "Privilege escalation through existing compute",
            "high",
            "privilege-escalation",
            "The principal can change or enter existing functions, instances, notebooks or stacks and act with "
            "the roles they run as.",
            "Restrict these actions to resources whose roles are not more privileged than the principal.",
        ),
        Rule(
            "IAM030",
            "Data exfiltration actions on Resource *",
            "medium",
            "data-exfiltration",
            "Reading every object, secret or parameter (or copying any database snapshot) is how data leaks "
            "happen at scale.",
            "Scope the read actions to the buckets, secrets and parameters the workload owns.",
        ),
        Rule(
            "IAM031",
            "Credentials exposure actions on Resource *",
            "medium",
            "credentials-exposure",
            "These actions return credentials for other identities or resources (access keys, assumed roles, "
            "database passwords).",
            "Scope them to specific resources, or remove them.",
        ),
        Rule(
            "IAM040",
            "Role trusts any principal (*)",
            "critical",
            "trust",
            "Anyone with an AWS account can assume the role unless a condition stops them.",
            "Name the trusted accounts or roles in Principal; add aws:PrincipalOrgID or sts:ExternalId conditions.",
        ),
        Rule(
            "IAM041",
            "Cross-account trust without ExternalId or organization condition",
            "medium",
            "trust",
            "Another account can assume the role; without sts:ExternalId (third parties) or aws:PrincipalOrgID "
            "(your organization) the confused-deputy problem applies.",
            "Add an sts:ExternalId condition for a vendor, or aws:PrincipalOrgID for your own accounts.",
        ),
        Rule(
            "IAM042",
            "Service-assumable role holds admin-level permissions",
            "high",
            "trust",
            "Code running in that service (a function, instance or job) gets administrator-level access if it is "
            "compromised.",
            "Give the service role only what the workload uses; never admin or IAM write access.",
        ),
        Rule(
            "IAM043",
            "Web-identity trust without a subject condition",
            "high",
            "trust",
            "Without a `:sub` condition every identity of the OIDC provider (e.g. every GitHub repository) can "
            "assume the role.",
            "Add a StringEquals/StringLike condition on `<provider>:sub` naming the repository and branch.",
        ),
        Rule(
            "IAM050",
            "Role unused",
            "low",
            "unused",
            "Roles nobody uses are standing access that nobody watches.",
            "Delete the role, or document why it must stay.",
        ),
        Rule(
            "IAM051",
            "Access key older than the rotation limit",
            "medium",
            "credentials",
            "Long-lived keys leak through laptops, CI logs and repositories; the older, the likelier.",
            "Rotate the key (create a new one, switch, deactivate and delete the old); prefer roles or OIDC.",
        ),
        Rule(
            "IAM052",
            "Active access key unused",
            "medium",
            "unused",
            "An active key that nobody uses is pure exposure.",
            "Deactivate, then delete the key.",
        ),
        Rule(
            "IAM053",
            "User has two active access keys",
            "low",
            "credentials",
            "Two active keys usually means a rotation was never finished.",
            "Deactivate the key that is no longer used.",
        ),
        Rule(
            "IAM054",
            "Console user without MFA",
            "high",
            "credentials",
            "A password alone is phishable; console users must have MFA.",
            "Enable an MFA device for the user, and enforce it with a Deny unless aws:MultiFactorAuthPresent.",
        ),
        Rule(
            "IAM060",
            "Project Lambda role allows more than invoking its endpoint",
            "high",
            "project",
            "The function's role should only call sagemaker:InvokeEndpoint on its one endpoint and write its logs; "
            "anything more is reachable by whoever can run code in the function.",
            "Replace the role's policies with the least-privilege policy shown.",
        ),
        Rule(
            "IAM061",
            "Project SageMaker training role reaches beyond what training needs",
            "high",
            "project",
            "Training jobs should read the project's code, data and checkpoints and write only their outputs and "
            "checkpoints.",
            "Replace the role's policies with the least-privilege policy shown.",
        ),
        Rule(
            "IAM063",
            "Project SageMaker endpoint role reaches beyond reading model artifacts",
            "high",
            "project",
            "An endpoint runs code that answers the internet; its role should only read the model artifacts it "
            "serves and write nothing in S3.",
            "Replace the role's policies with the least-privilege policy shown.",
        ),
        Rule(
            "IAM064",
            "Project SageMaker batch role reaches beyond reading inputs and writing predictions",
            "high",
            "project",
            "A batch transform job runs the model's code on every input; its role should only read the model "
            "artifacts and the batch inputs and write predictions.",
            "Replace the role's policies with the least-privilege policy shown.",
        ),
        Rule(
            "IAM062",
            "Project EC2 training role reaches beyond what train-ec2 grants",
            "high",
            "project",
            "The training instance's role should only read the project's code and data and write job outputs.",
            "Replace the role's policies with the least-privilege policy shown.",
        ),
    ]
}
