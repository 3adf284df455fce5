"""The DynamoDB data model, pure and shared by the router and the nodes.

Modules: ``errors`` (exceptions and their wire form), ``numbers`` (38-digit
decimals), ``values`` (AttributeValue validation), ``size`` (item size),
``keys`` (key schemas and key checks), ``encoding`` (order-preserving key bytes
and the placement hash), ``binary`` (strict base64), ``serialization`` (Coral's
type-mismatch messages).
Nothing is re-exported: import the module you need.
"""
