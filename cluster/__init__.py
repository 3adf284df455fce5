"""What routers and storage nodes both depend on, and nothing else: the
storage-key encoding (`keys`), the cluster metadata model (`meta`), the wire
between processes (`frames`, `faults`, `identity`, `rpc`, `lifetime`) and the
partition client that sends a request to a partition's leader (`partitions`,
over one connection per node: `nodes`).

It imports only `ddb` and the generated protobuf code; `router` and `node`
import it, never each other (tests/test_imports.py checks this).
"""
