"""`trireme router`: serve the DynamoDB API until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from cluster.logs import configure
from cluster.regions import DEFAULT_REGION


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("router", help="run a request router (the DynamoDB endpoint)",
                       description="Serve the DynamoDB JSON protocol over HTTP and route requests to "
                                   "the storage nodes.")
    p.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (default 127.0.0.1:8000)")
    p.add_argument("--listen-fd", type=int, default=None,
                   help="accept on this inherited listening socket (a file descriptor) instead of binding --listen, "
                        "which then only names the address: several router workers share one port "
                        "(`trireme up --router-workers N`, --workers)")
    p.add_argument("--workers", type=int, default=1,
                   help="run N router processes on the --listen port: this one makes the listening socket, hands it "
                        "to each (--listen-fd), gives worker i the --admin-listen port + i, and starts again one "
                        "that dies (default 1: this process serves; the compose router's TRIREME_ROUTER_WORKERS)")
    p.add_argument("--az", required=True, help="the router's availability zone: eventually consistent "
                                                "reads prefer replicas there")
    p.add_argument("--seeds", required=True, help="HOST:PORT,... of storage nodes")
    p.add_argument("--cluster-id", default="",
                   help="the cluster this router serves (default: learned from the first seed that "
                        "answers); nodes of other clusters are refused")
    p.add_argument("--region", default=DEFAULT_REGION, help=f"region in table ARNs (default {DEFAULT_REGION})")
    p.add_argument("--remote-regions", default="",
                   help="REGION=URL,...: other regions' router endpoints, through the cross-region link "
                        "(global tables' replicas live there)")
    p.add_argument("--deadline", type=float, default=8.0,
                   help="seconds a request may spend retrying before it fails (default 8)")
    p.add_argument("--parent-pid", type=int, default=0,
                   help="stop when the process with this pid ends (`trireme up` passes its own)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.add_argument("--log-format", default="text", choices=("text", "json"),
                   help="text (default) or json: one JSON object per line (time, level, logger, message, "
                        "request_id, ...)")
    p.add_argument("--access-log", action="store_true",
                   help="log one line per request: operation, table, status, latency and request id")
    p.add_argument("--slow-ms", type=float, default=float(os.environ.get("TRIREME_SLOW_MS") or 1000),
                   help="log a request that takes this many milliseconds or longer, under the same request id "
                        "as its node's line about it (default $TRIREME_SLOW_MS or 1000; 0: none)")
    p.add_argument("--functions-dir", default="",
                   help="where this router unpacks functions' code and writes the logs of the invocations "
                        "it runs (default: a new temporary directory; `trireme up` gives DATA_DIR/ROUTER/functions)")
    p.add_argument("--exports-dir", default="exports",
                   help="where ExportTableToPointInTime writes and ImportTable reads: an S3 bucket is a directory "
                        "here (default ./exports; `trireme up` gives DATA_DIR/exports)")
    p.add_argument("--tls-cert", type=Path, default=None,
                   help="serve HTTPS with this certificate (PEM; `trireme up --tls` makes DATA_DIR/tls/ROUTER.pem)")
    p.add_argument("--tls-key", type=Path, default=None, help="the certificate's private key (PEM)")
    p.add_argument("--tls-ca", type=Path, default=None,
                   help="the cluster's CA: dial the nodes with mutual TLS, presenting --tls-cert (then a "
                        "certificate of the cluster, made by `trireme up --tls`)")
    p.add_argument("--admin-listen", default="",
                   help="HOST:PORT of the admin endpoint (TriremeAdmin_1: fault injection, usage), apart from the "
                        "DynamoDB port; with --auth only admin credentials pass (default: no admin endpoint)")
    p.add_argument("--auth", action="store_true",
                   help="enforce authentication: every request must be signed (SigV4) with a user's key "
                        "(`trireme users`); default: open mode, any credentials or none pass")
    p.add_argument("--key-file", default="",
                   help="the cluster master key (cluster/kms.py; needed with --auth): unwraps users' secrets and "
                        "derives the credential routers and nodes sign their own calls with")
    p.set_defaults(func=run)
    global _PARSER
    _PARSER = p


_PARSER: argparse.ArgumentParser | None = None  # the workers' command lines are made from it (router/workers.py)


def run(args: argparse.Namespace) -> int:
    configure(args.log_level, args.log_format, "router")
    if args.workers != 1:
        from router.workers import supervise
        if args.workers < 1 or args.listen_fd is not None:
            print("trireme router: --workers wants a positive count, and not --listen-fd (a worker is one process)",
                  file=sys.stderr, flush=True)
            return 2
        return supervise(_PARSER, args)
    try:
        with asyncio.Runner(loop_factory=event_loop()) as runner:
            return runner.run(_serve(args))
    except (OSError, TimeoutError, ValueError) as exc:
        print(f"trireme router: {exc}", file=sys.stderr, flush=True)
        return 1


def event_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    """The router's event loop: uvloop's (libuv, in C) unless
    TRIREME_ROUTER_LOOP=asyncio. The router is the busiest process per
    request, and on asyncio's loop a fifth of its instructions per request
    (bench.router_loop) were the loop's own: readiness, callbacks, the
    sockets' reads and writes in Python. libuv starts child processes with
    fork(): gRPC's fork handlers must be off (client/cli.py sets
    GRPC_ENABLE_FORK_SUPPORT=false before gRPC loads)."""
    if os.environ.get("TRIREME_ROUTER_LOOP", "uvloop") == "asyncio":
        return asyncio.new_event_loop
    import uvloop
    return uvloop.new_event_loop


async def _serve(args: argparse.Namespace) -> int:
    from cluster.kms import use_key_file
    from cluster.lifetime import watch_parent
    from cluster.partitions import Cluster
    from cluster.regions import parse_remote_regions
    from cluster.rpc import learn_cluster_id
    from router.api import Api
    from router.autoscaling_api import AutoScalingApi
    from router.console.app import PREFIX as CONSOLE_PREFIX, Console, rest_handler
    from router.global_settings import internal_operations as settings_operations
    from router.global_tables import internal_operations
    from router.http import serve
    from router.lambda_api import PREFIXES, LambdaApi
    from router.metrics import PATH as METRICS_PATH, Metrics, rest_handler as with_metrics
    from router.replication import operations as replication_operations
    from router.strong_tables import operations as strong_operations
    from router.protocol import Dispatcher
    from router.streams import StreamsApi
    from router.auth.authorize import Authorizer
    from router.auth.sts import Sts

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.parent_pid:
        asyncio.create_task(watch_parent(args.parent_pid, stop))
    seeds = [s for s in args.seeds.split(",") if s]
    https = _tls(args)
    cluster_id = args.cluster_id
    if not cluster_id:  # pinned from now on: nodes of any other cluster are refused
        try:
            cluster_id = await learn_cluster_id(seeds)
        except TimeoutError as exc:
            raise TimeoutError(f"cannot learn the cluster id from --seeds: {exc}") from None
    host, _, port = args.listen.rpartition(":")
    if args.auth and not args.key_file:
        raise ValueError("--auth needs --key-file (the cluster master key)")
    master = use_key_file(args.key_file)  # also signs this router's calls to other regions
    cluster = Cluster(seeds, args.az, deadline_s=args.deadline, cluster_id=cluster_id, slow_ms=args.slow_ms)
    cluster.region = args.region  # MRSC groups name members REGION/NODE
    api = Api(cluster, region=args.region, endpoint=args.listen,
              remote_regions=parse_remote_regions(args.remote_regions), exports_dir=Path(args.exports_dir))
    functions = LambdaApi(cluster, region=args.region, endpoint=args.listen,
                          functions_dir=args.functions_dir or tempfile.mkdtemp(prefix="trireme-functions-"))
    console = Console(cluster, region=args.region, cluster_id=cluster_id)  # /console (router/console/)
    metrics = Metrics(cluster)  # GET /metrics (router/metrics.py)
    try:
        streams_api = StreamsApi(cluster, args.region, cluster_id)
        metrics.collector.stream_ages = streams_api.iterator_age_ms
        console.stream_reads = lambda: dict(streams_api.get_records_calls)  # the Cost view's stream reads
        streams = {name: api.with_metadata(op) for name, op in streams_api.operations().items()}
        replication = {name: api.with_metadata(op) for name, op in internal_operations(api).items()}
        replication.update({name: api.with_metadata(op) for name, op in settings_operations(api).items()})
        replication.update(replication_operations(api))  # Replicate (router/replication.py)
        replication.update({name: api.with_metadata(op) for name, op in strong_operations(api).items()})
        scaling = {name: api.with_metadata(op)
                   for name, op in AutoScalingApi(api, cluster, args.region).operations().items()}
        authenticate = _authenticator(args, cluster, master)
        authorize = Authorizer(lambda: cluster.state, args.region)
        handler = Api.with_host(Dispatcher(
            api.operations(), streams=streams, replication=replication, scaling=scaling,
            authenticate=authenticate, authorize=authorize, sts=Sts(cluster.meta, authenticate),
            catch_up=cluster.catch_up))
        rest = _authenticated_rest(rest_handler(console, functions), authenticate, authorize, functions.urls)

        async def serve_api():
            return await serve(handler, host or "127.0.0.1", int(port), region=args.region,
                               access_log=args.access_log, rest=with_metrics(metrics, rest),
                               rest_prefixes=(*PREFIXES, CONSOLE_PREFIX, METRICS_PATH.encode()), ssl=https,
                               slow_ms=args.slow_ms, sock=shared, observe=metrics.requests.record)
        shared = None
        if args.listen_fd is None:
            server = await serve_api()
        else:  # a worker: the metadata first, so that no connection waits on a worker still starting
            from router.workers import inherited
            shared = inherited(args.listen_fd)
            cluster.start()
            if not await cluster.wait_for(lambda s: True, args.deadline):
                logging.getLogger(__name__).warning("no metadata after %.0f s: accepting anyway", args.deadline)
            server = await serve_api()
    except OSError as exc:
        raise OSError(f"cannot listen on {args.listen}: {exc.strerror or exc}; "
                      "choose another port with --listen") from None
    servers = [server]
    if args.admin_listen:  # the admin plane: its own port, admin callers only when enforced
        admin_host, _, admin_port = args.admin_listen.rpartition(":")
        try:  # with GET /metrics too: a worker's own counts (the DynamoDB port's may answer from another worker)
            servers.append(await serve(Dispatcher({}, admin=_admin_ops(cluster, cluster_id, streams_api), checks={},
                                                  authenticate=authenticate),
                                       admin_host or "127.0.0.1", int(admin_port), region=args.region, ssl=https,
                                       rest=with_metrics(metrics, _no_rest), rest_prefixes=(METRICS_PATH.encode(),)))
        except OSError as exc:
            server.close()
            raise OSError(f"cannot listen on {args.admin_listen}: {exc.strerror or exc}; "
                          "choose another port with --admin-listen") from None
    if shared is None:
        cluster.start()
    api.backups.start()  # takes over restores and imports whose router died midway
    scheme = "https" if https else "http"
    logging.getLogger(__name__).info(
        "router of cluster %s serving DynamoDB on %s://%s%s (console: %s://%s/console, metrics: %s://%s/metrics), "
        "its admin endpoint on %s", cluster_id, scheme, args.listen,
        (" (mutual TLS to the nodes)" if args.tls_ca else "") + (
            f" (a worker: accepting on the shared socket, fd {args.listen_fd})" if shared is not None else ""),
        scheme, args.listen, scheme, args.listen,
        f"{scheme}://{args.admin_listen}" if args.admin_listen else "no port (no --admin-listen)")
    await stop.wait()
    for s in servers:
        s.close()
    await console.close()
    await functions.close()
    await cluster.close()
    return 0


async def _no_rest(method: str, url: str, headers: dict[str, str], body: bytes):
    """The admin endpoint's REST side beside GET /metrics: nothing (its prefix admits only /metrics)."""
    from router.lambda_api import RestResponse
    return RestResponse(404, b'{"Message":"Not Found"}', {"Content-Type": "application/json"})


def _tls(args: argparse.Namespace):
    """The HTTPS context (None without --tls-cert); with --tls-ca, this
    router's certificate of the cluster becomes the process's identity for
    dialling nodes (cluster/tls.py) and names the cluster."""
    from cluster import tls

    if args.tls_cert is None and args.tls_key is None:
        if args.tls_ca is not None:
            raise ValueError("--tls-ca needs --tls-cert and --tls-key (this router's certificate of the cluster)")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    if args.tls_ca is not None:
        ident = tls.from_flags(None, args.tls_ca, args.tls_cert, args.tls_key, "", "router", args.cluster_id)
        args.cluster_id = ident.member.cluster_id
        tls.use(ident, own=True)
    try:
        return tls.Identity(args.tls_ca or args.tls_cert, args.tls_cert, args.tls_key).server_context()
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use --tls-cert {args.tls_cert} with --tls-key {args.tls_key}: {exc}") from None


def _authenticator(args: argparse.Namespace, cluster, master):
    """Enforced (--auth) against the cluster's users, or open: said once at start-up either way."""
    from router.auth.authenticate import Authenticator
    from router.auth.users import Users

    log = logging.getLogger(__name__)
    if not args.auth:
        log.warning("OPEN MODE: requests are not authenticated (any credentials or none pass); "
                    "start with --auth (`trireme up --auth`) to enforce signatures and users")
        return Authenticator(None, args.region)
    log.info("authentication enforced: every request must be signed with a user's key (SigV4)")
    return Authenticator(Users(lambda: cluster.state, master), args.region)


def _authenticated_rest(rest, authenticate, authorize, urls):
    """The Lambda REST API behind authentication (service `lambda`) and
    authorization (lambda: actions), its refusals in Lambda's shape (403 and
    x-amzn-ErrorType). A function URL with AuthType AWS_IAM wants a signed
    request allowed lambda:InvokeFunctionUrl (Lambda's 403 Forbidden
    otherwise); one with AuthType NONE is public, as in Lambda; so is GET
    /metrics (Prometheus scrapes unsigned). The console's page and files are public; its API wants the signature the page makes
    after sign-in (router/console/static/auth.js; the event stream's in its
    query), and its fault injection an admin. The pseudo-headers of
    router/http.py are dropped before the API sees the headers."""
    import orjson

    from ddb.errors import AccessDeniedException, DynamoDBError
    from router.auth.authenticate import CALLER, DYNAMODB, LAMBDA
    from router.console.app import PREFIX as CONSOLE_PREFIX
    from router.function_urls import SERVE_PREFIX
    from router.lambda_api import RestResponse

    console = CONSOLE_PREFIX.decode()
    api, chaos = console + "/api/", console + "/api/chaos"

    def refused(exc: DynamoDBError) -> RestResponse:
        return RestResponse(403 if exc.status < 500 else exc.status,
                            orjson.dumps({"message": exc.message, "Type": "User"}),
                            {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})

    def console_api(url: str, headers: dict[str, str], body: bytes) -> RestResponse | None:
        """The console API's refusal, if any (in its own shape: __type, message)."""
        try:
            caller = authenticate(headers, body, DYNAMODB)
            if url.partition("?")[0] == chaos and not caller.admin:
                raise AccessDeniedException(f"User: {caller.arn} is not authorized to perform: the console's fault "
                                            "injection (it needs an admin user)")
        except DynamoDBError as exc:
            return RestResponse(403 if exc.status < 500 else exc.status,
                                orjson.dumps({"__type": exc.code, "message": exc.message}),
                                {"Content-Type": "application/json"})
        return None

    async def handle(method: str, url: str, headers: dict[str, str], body: bytes):
        plain = {k: v for k, v in headers.items() if k[0] != ":"}
        if url.startswith(console) and (len(url) == len(console) or url[len(console)] in "/?"):  # as rest_handler
            refusal = console_api(url, headers, body) if authenticate.enforced and url.startswith(api) else None
            return refusal or await rest(method, url, plain, body)
        if authenticate.enforced and not url.startswith(SERVE_PREFIX):
            try:
                caller = authenticate(headers, body, LAMBDA)
                CALLER.set(caller)
                await authorize.rest(caller, method, url, body)
            except DynamoDBError as exc:
                return refused(exc)
        elif authenticate.enforced:
            private = urls.private_function(url)  # AuthType AWS_IAM: signed, and allowed InvokeFunctionUrl
            if private is not None:
                try:
                    authorize.function_url(authenticate(headers, body, LAMBDA), private)
                except DynamoDBError as exc:
                    return RestResponse(403, b'{"Message":"Forbidden"}',
                                        {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})
        return await rest(method, url, plain, body)
    return handle


def _admin_ops(cluster, cluster_id: str, streams_api):
    """The chaos tooling's handle on this router (target prefix TriremeAdmin_1.).

    SetFaults must state the cluster (`ClusterId`, from cluster.json) and
    name its faults correctly: a malformed body is a 400 that names the field."""
    from cluster.faults import Faults
    from cluster.identity import mismatch
    from ddb.errors import ValidationException

    async def faults(body: dict) -> dict:
        return cluster.faults.to_json()

    async def set_faults(body: dict) -> dict:
        stated = body.get("ClusterId")
        if stated != cluster_id:
            raise ValidationException(mismatch(cluster_id, str(stated or ""), "this router", "the request"))
        try:
            faults = Faults.from_json(body)
            cluster.faults = Faults() if body.get("heal") is True else faults
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return cluster.faults.to_json()
    async def usage(body: dict) -> dict:
        """What this router metered that the nodes do not see (`trireme cost`)."""
        return {"StreamReadRequests": dict(streams_api.get_records_calls)}
    return {"Faults": faults, "SetFaults": set_faults, "Usage": usage}
