"""IAM: the generated roles and policies, what each command needs, and propagation."""
