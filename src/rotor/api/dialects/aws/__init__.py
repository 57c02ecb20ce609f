"""The AWS Secrets Manager dialect: JSON 1.1 calls on ``/``, signed with SigV4."""
