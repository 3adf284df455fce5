"""IAM for DynamoDB, pure: request signatures (`sigv4`), the policy language
(`policy`) and what each operation asks of it (`actions`)."""
