"""PartiQL for DynamoDB: the statements ExecuteStatement and
BatchExecuteStatement take, parsed (`parser.py`), printed back (`printer.py`)
and compiled (`compile.py`) to the request bodies of the existing operations
(Query, Scan, PutItem, UpdateItem, DeleteItem) with expression strings, so the
one expression evaluator in `ddb/expressions.py` decides every condition."""

from ddb.partiql.compile import Plan, compile_statement
from ddb.partiql.parser import parse
from ddb.partiql.printer import to_text

__all__ = ["Plan", "compile_statement", "parse", "to_text"]
