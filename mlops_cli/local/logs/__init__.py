"""CloudWatch Logs for the local AWS's own processes (jobs, model servers, functions)."""
