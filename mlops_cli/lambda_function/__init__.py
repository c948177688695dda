"""The Lambda function's code: `handler.py` is the whole deployment package (standard library + boto3)."""
