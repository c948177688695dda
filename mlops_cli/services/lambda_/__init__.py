"""The Lambda function in front of an endpoint, and its concurrency."""
