"""Who is calling (authentication: SigV4 against the cluster's users) and
whether they may (authorization: IAM-style policies)."""
