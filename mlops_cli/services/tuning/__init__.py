"""SageMaker hyperparameter tuning jobs."""
