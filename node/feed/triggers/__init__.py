"""Event source mappings: each partition leader delivers its stream shard to
the functions mapped to the stream, at least once and in order per item.

One poller per (mapping, partition) runs where the partition's Raft leader
is, so one is active per shard (`planner.Triggers`). It reads the applied
(so committed) stream records after the mapping's checkpoint from local
storage, turns them into Lambda's DynamoDB event (`ddb.streams.build_record`
+ `lambda_event_record`), drops those the mapping's FilterCriteria reject,
and invokes the function in this node's own `FunctionRuntime` (worker
processes; code fetched by its upload key from the chunk table,
`cluster/function_code.py`) (`shard.ShardPoller`).

ParallelizationFactor N: a poller reads a window of up to N x BatchSize
records (gathered for up to MaximumBatchingWindowInSeconds), spreads them
over N lanes by a hash of the item's key (`records.split_lanes`), and runs
the lanes concurrently, each lane's batches (up to BatchSize records) one
after another: every record of one item is in one lane, so an item's
records are still delivered in order. After the whole window is handled
(every record delivered or discarded) the poller proposes the window's end
as the new checkpoint through the partition's Raft log
(``WriteCommand.checkpoint``, `PartitionReplica` keeps it in the
partition's configuration, which snapshots carry), so a new leader resumes
where the last one committed: records after it may be delivered again
(handlers must be idempotent, as on AWS), none is skipped.

Errors, per batch, as Lambda's stream pollers: a failed batch is retried
MaximumRetryAttempts times (-1: until the records age out), split in halves
first with BisectBatchOnFunctionError; with ReportBatchItemFailures the
batch resumes at the lowest failed record's SequenceNumber; records older
than MaximumRecordAgeInSeconds are discarded unprocessed. A discarded batch
is described by Lambda's DDBStreamBatchInfo record (`records.failure_record`)
to DestinationConfig.OnFailure: a function is invoked with it, a table gets
it as one item (`records.failure_item`: partition key the requestId, sort
key the timestamp) written through the router; and it is counted in the
mapping's status (the meta call ``mapping_result``: LastProcessingResult
when it changes, and the records given up, which GetEventSourceMapping
answers as Trireme's own ``TriremeDiscardedRecords``).
"""

from node.feed.triggers.planner import Triggers
from node.feed.triggers.records import batch_item_failures, failure_item, failure_record, split_lanes

__all__ = ["Triggers", "batch_item_failures", "failure_item", "failure_record", "split_lanes"]
