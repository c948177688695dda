"""mlops: from a folder of images to a secured, autoscaled prediction service on AWS."""

__version__ = "0.1.0"
