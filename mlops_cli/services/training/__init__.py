"""SageMaker training jobs: the request, its launch and the job followed to its end."""
