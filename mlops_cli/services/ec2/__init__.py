"""`train-ec2`: a self-terminating EC2 instance that trains, its role, image and bootstrap."""
