"""The execution layer: how a stored request runs, survives a crash and reaches its caller.

``lifecycle`` owns every state move of a request; ``leases`` keeps this process's requests alive;
``inflight`` notes paid calls until they are stored; ``sync`` hands a sync answer to its HTTP request;
``kinds`` says how each kind of request is resumed; ``sweeper`` rescues what a dead process left;
``outbox`` and ``callbacks`` deliver; ``idempotency`` stores a request once; ``queue`` and
``embedded_redis`` are Redis and RQ; ``runtime`` gathers what a process needs to run requests.
"""
