"""`make chaos`: the whole pipeline under faults (issue 16), on the local stack.

A district with guardians in every consent state gets `CHAOS_ITEMS` journal items (marks, final
marks, corrections, retractions) through the grades API in batches over a few minutes, with
consent revocations and contact changes mid-stream. Meanwhile a fault injector kills each
service with `kill -9` at random moments and restarts it, restarts Kafka, FerretDB and
PostgreSQL, makes the SMTP sink answer 451/421 and drop connections for a stretch, the SMS sink
answer 429 and refuse some numbers, and puts poison messages on the topics the services read.
Then, once quiet, it checks from `notify.requests.v1`, `notify.status.v1`, the sinks' files and
the dead-letter topics: 0 lost, 0 duplicate, 0 sent after a revocation, 0 to a contact replaced
before the send, every poison message dead-lettered, and the digest's read model equal to one
rebuilt from the topics. Writes `bench/results/<date>-chaos.json`
(`-chaos-<items>` for another size) and `.md`; exits 1 when a check fails.

`CHAOS_ITEMS` (default 10,000) sizes the run; `CHAOS_SEED` (16) picks the fault moments;
`CHAOS_KILLS_EACH` (3) is how often each service is killed; `CHAOS_FEED_SECONDS` (by the size,
at least 150) how long the journal is fed; `CHAOS_RESULTS` where the report goes.

`feed` posts the journal and the consent changes, `faults` injects the faults, `checks` waits
for quiet and checks, `report` writes the result; `python -m bench.chaos` runs them (`__main__`).
"""
