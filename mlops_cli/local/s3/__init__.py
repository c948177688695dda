"""S3 in the local AWS: what moto does not check."""
