"""SageMaker in the local AWS: training and tuning jobs run here, endpoints are served by local model servers."""
