"""AWS identity and access, pure: SigV4 request signatures (`sigv4`) and, from
the authorization half of issue 19, IAM policies and DynamoDB's actions."""
