"""Shorthands for DynamoDB attribute values in test cases."""

from __future__ import annotations


def S(v): return {"S": v}
def N(v): return {"N": str(v)}
def B(v): return {"B": v}
def L(*v): return {"L": list(v)}
def M(**v): return {"M": v}
def SS(*v): return {"SS": list(v)}
def NS(*v): return {"NS": [str(x) for x in v]}
def BS(*v): return {"BS": list(v)}
