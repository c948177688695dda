"""IAM as AWS evaluates it, for requests signed with an IAM user's or an assumed role's keys: who the caller is
(principals.py), what a request asks to do (requests.py: actions, resources, context keys, and the actions AWS
checks on the caller's behalf), whether the caller's policies allow it (evaluate.py), and AWS's refusal
(authorize.py, called once by the front door after SigV4). The instance's own keys are the account root."""
