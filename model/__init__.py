"""The model package: network, data, training engine, artifacts and inference handlers.

Uploaded as-is to SageMaker and EC2; imports only torch, torchvision, Pillow and the standard library.
"""
